/**
 * The root logger. Each process builds one in its composition root and passes children down:
 * `logger.child({ component: 'sink.collector-a' })`. Nothing per event above debug.
 *
 * Three line formats, picked by `log.format` in the site config (FLUME_LOG_FORMAT):
 *
 *   text    (default) for people, fields parseable as logfmt:
 *           2026-12-03T15:40:01.123Z warn [master-client] Master unreachable. master=h:35873 error="14 UNAVAILABLE: No connection established"
 *   logfmt  one logfmt record a line, for log shippers (Loki, Vector, Heroku-style parsers):
 *           ts=2026-12-03T15:40:01.123Z level=warn component=master-client msg="Master unreachable." master=h:35873 error="14 UNAVAILABLE: ..."
 *   json    one JSON object a line: {"level":"warn","message":"Master unreachable.","component":"master-client",...}
 *
 * A value is quoted when it is empty or holds a space, `=`, `"` or a control character; `"`
 * and `\` are escaped, and newlines written as `\n`, so one record is one line. A list of plain
 * words or numbers is written `[a,b]`; other objects and arrays as JSON. grpc-js appends "Resolution note: " to its UNAVAILABLE messages
 * even when it has no note; that empty tail is cut from every string value.
 */
import winston from 'winston';

export type Logger = winston.Logger;

export const LOG_FORMATS = ['text', 'logfmt', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LoggerOptions {
  /** error | warn | info | debug; default FLUME_LOG_LEVEL, else info. */
  level?: string;
  /** The process name, kept in JSON records only (it is the same for every line of a process). */
  process?: string;
  /** Default FLUME_LOG_FORMAT, else text. */
  format?: LogFormat;
}

/** What grpc-js leaves when its resolution note is empty. */
const EMPTY_GRPC_NOTE = /\s*Resolution note:\s*$/;
// eslint-disable-next-line no-control-regex -- control characters are exactly what must be quoted
const NEEDS_QUOTES = /[\s="\\\u0000-\u001f]/;

/** A string value without the artefacts that make a log line hard to read. */
function cleanLogText(text: string): string {
  return text.replace(EMPTY_GRPC_NOTE, '');
}

/** An array item written as is inside `[a,b]`: a number, or a string without separators. */
function plainItem(item: unknown): boolean {
  return typeof item === 'number' || (typeof item === 'string' && item !== '' && !/[\s,[\]="\\]/.test(item));
}

/** One logfmt value: bare when it can be, else quoted with `"`, `\` and control characters escaped. */
export function logfmtValue(value: unknown): string {
  let text: string;
  if (typeof value === 'string') text = cleanLogText(value);
  else if (value instanceof Error) text = cleanLogText(value.message);
  else if (Array.isArray(value) && value.every(plainItem)) text = `[${value.join(',')}]`;
  else if (value !== null && typeof value === 'object') text = JSON.stringify(value);
  else text = String(value);
  if (text !== '' && !NEEDS_QUOTES.test(text)) return text;
  return `"${text
    .replace(/[\\"]/g, (c) => `\\${c}`)
    .replace(/\n/g, '\\n')
    .replace(/\r/g, '\\r')
    .replace(/\t/g, '\\t')}"`;
}

function fieldsText(rest: Record<string, unknown>): string {
  let out = '';
  for (const [k, v] of Object.entries(rest)) {
    if (k === 'process' || v === undefined) continue;
    out += ` ${k}=${logfmtValue(v)}`;
  }
  return out;
}

function parseFormat(text: string | undefined): LogFormat {
  if (text === undefined || text === '') return 'text';
  if ((LOG_FORMATS as readonly string[]).includes(text)) return text as LogFormat;
  throw new Error(`FLUME_LOG_FORMAT must be one of ${LOG_FORMATS.join(', ')}, not ${JSON.stringify(text)}`);
}

const cleanStrings = winston.format((info) => {
  for (const [k, v] of Object.entries(info)) if (typeof v === 'string') (info as Record<string, unknown>)[k] = cleanLogText(v);
  return info;
});

function lineFormat(kind: LogFormat): winston.Logform.Format {
  switch (kind) {
    case 'json':
      return winston.format.combine(winston.format.timestamp(), cleanStrings(), winston.format.json());
    case 'logfmt':
      return winston.format.combine(
        winston.format.timestamp(),
        winston.format.printf(
          ({ timestamp, level, message, component, ...rest }) =>
            `ts=${timestamp} level=${level}${component ? ` component=${logfmtValue(component)}` : ''} msg=${logfmtValue(message)}${fieldsText(rest)}`,
        ),
      );
    case 'text':
      return winston.format.combine(
        winston.format.timestamp(),
        winston.format.printf(
          ({ timestamp, level, message, component, ...rest }) =>
            `${timestamp} ${level} ${component ? `[${component}] ` : ''}${cleanLogText(String(message))}${fieldsText(rest)}`,
        ),
      );
  }
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? process.env.FLUME_LOG_LEVEL ?? 'info';
  const format = options.format ?? parseFormat(process.env.FLUME_LOG_FORMAT);
  return winston.createLogger({
    level,
    format: lineFormat(format),
    defaultMeta: options.process ? { process: options.process } : undefined,
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug', 'verbose', 'silly'] })],
  });
}

/** A logger that drops everything: for tests and benchmarks. */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}
