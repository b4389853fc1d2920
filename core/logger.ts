/**
 * The root logger. Each process builds one in its composition root and passes children down:
 * `logger.child({ component: 'sink.collector-a' })`. Nothing per event above debug.
 */
import winston from 'winston';

export type Logger = winston.Logger;

export function createLogger(options: { level?: string; process?: string; json?: boolean } = {}): Logger {
  const level = options.level ?? process.env.FLUME_LOG_LEVEL ?? 'info';
  const format = options.json
    ? winston.format.combine(winston.format.timestamp(), winston.format.json())
    : winston.format.combine(
        winston.format.timestamp(),
        winston.format.printf(({ timestamp, level, message, component, ...rest }) => {
          const fields = Object.entries(rest)
            .filter(([k]) => k !== 'process')
            .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
            .join(' ');
          return `${timestamp} ${level} ${component ? `[${component}] ` : ''}${message}${fields ? ' ' + fields : ''}`;
        }),
      );
  return winston.createLogger({
    level,
    format,
    defaultMeta: options.process ? { process: options.process } : undefined,
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug', 'verbose', 'silly'] })],
  });
}

/** A logger that drops everything: for tests and benchmarks. */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}
