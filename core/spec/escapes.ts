/**
 * Flume OG's path and text escapes, compiled once into a formatter that runs per event.
 *
 *   %{host} %{hostname}  the event's host            %{nanos}      its nanos field
 *   %{priority}          its priority name (INFO)    %{timestamp}  its timestamp in ms
 *   %{body}              its body as UTF-8           %{rolltag}    from `extra` (roll sinks)
 *   %{NAME}              `extra.NAME` when given, else attribute NAME as UTF-8, else ''
 *   %%  a '%'
 *
 * Date shorthands, from the event's timestamp in UTC (OG's `replaceShorthand`, which used
 * SimpleDateFormat patterns; `%e` and `%n` are Flume NG's additions):
 *
 *   %a Sun     %A Sunday     %b Jan     %B January     %c Sun Jan 5 13:04:09 2025
 *   %d 05      %D 01/05/25   %e 5       %H 13          %I 01       %j 005 (day of year)
 *   %k 13      %l 1          %m 01      %n 1           %M 04       %p PM
 *   %s seconds since the epoch          %S 09          %t milliseconds since the epoch (not a
 *   tab, as in OG)          %y 25      %Y 2025        %z +0000
 *
 * An unknown `%x`, a lone '%' and a malformed `%{...}` are errors of {@link compileTemplate}
 * (OG silently wrote nothing for them).
 *
 * A template compiled with `{ path: true }` names files: every value it takes from an event or
 * from `extra` (`%{host}`, `%{NAME}`, `%{body}`) is made safe by `./path-value.ts` (no `/`, no
 * leading `.`, no control bytes, `%XX`-encoded, bounded so that the values of one path segment
 * together stay well under 255 bytes), so no event can name a file outside the storage root. Formatting allocates only the output string: no regex,
 * no Date; the date parts a template uses are computed once per second of event time and reused.
 */
import { FlumeError } from '../errors';
import { Priority } from '../event';
import { PATH_VALUE_MAX, PATH_VALUE_MIN, pathValue } from './path-value';

/** What a template reads from an event: both `Event` and `EventCursor` adapt to it. */
export interface EscapeSource {
  /** Milliseconds since the epoch. */
  readonly timestamp: number;
  readonly nanos: number;
  readonly priority: number;
  host(): string;
  /** The body as UTF-8 text (for `%{body}`). */
  body(): string;
  /** An attribute as UTF-8 text, or undefined when the event has none of that name. */
  attribute(name: string): string | undefined;
  /**
   * Optional: a value made safe for a path (`./path-value.ts`) straight from its bytes, so that
   * bytes that are not UTF-8 stay distinct; undefined for an absent attribute.
   */
  pathPart?(part: PathPart, name: string, max: number): string | undefined;
}

/** What {@link EscapeSource.pathPart} reads. */
export type PathPart = 'host' | 'body' | 'attribute';

export interface CompileOptions {
  /** The template names a file: event values in it are made safe (see the module comment). */
  path?: boolean;
}

/** Values that `%{NAME}` takes before the event's attributes, e.g. `{ rolltag: '...' }`. */
type TemplateExtra = Readonly<Record<string, string | undefined>>;

export interface Template {
  /** The template text as written. */
  readonly source: string;
  /** No escape at all (`%%` aside): `format` always returns the same string. */
  readonly isConstant: boolean;
  /** Some escape reads the event's timestamp (a date shorthand, `%s`, `%t`, `%{timestamp}`). */
  readonly usesTime: boolean;
  /** The names of the `%{NAME}` escapes, in order of appearance, without repeats. */
  readonly names: readonly string[];
  /** Whether the output depends on `extra` alone (no time, no event field, every name in `extra`): the same for every event. */
  eventFree(extra?: TemplateExtra): boolean;
  /**
   * The template with every escape replaced for `ev`. One Template keeps a per-second cache, so
   * use one instance from one formatting loop at a time (formatting is synchronous anyway).
   */
  format(ev: EscapeSource, extra?: TemplateExtra): string;
}

/** A malformed template; `column` is 1-based within `template`. */
export class TemplateError extends FlumeError {
  constructor(
    message: string,
    readonly template: string,
    readonly column: number,
  ) {
    super(`${message} at column ${column} of template ${JSON.stringify(template)}`);
  }
}

// Part kinds of a compiled template.
const LITERAL = 0;
const DATE = 1; // depends on the second of the timestamp only
const MILLIS = 2;
const HOST = 3;
const NANOS = 4;
const PRIORITY = 5;
const BODY = 6;
const NAMED = 7;

const DATE_CODES = 'aAbBcdDeHIjklmnMpsSyYz';
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const NAME_CHAR = /^[A-Za-z0-9_.-]$/;

/** The calendar fields of one second, in UTC. */
interface DateFields {
  year: number;
  month: number; // 1..12
  day: number; // 1..31
  yday: number; // 1..366
  wday: number; // 0 = Sunday
  hour: number;
  minute: number;
  second: number;
  epochSeconds: number;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

function pad3(n: number): string {
  return n < 10 ? `00${n}` : n < 100 ? `0${n}` : String(n);
}

/** Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** Splits a second since the epoch into UTC calendar fields, without a Date. */
function dateFields(epochSeconds: number): DateFields {
  const days = Math.floor(epochSeconds / 86400);
  const rem = epochSeconds - days * 86400;
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  return {
    year,
    month,
    day,
    yday: days - daysFromCivil(year, 1, 1) + 1,
    wday: (((days + 4) % 7) + 7) % 7,
    hour: Math.floor(rem / 3600),
    minute: Math.floor((rem % 3600) / 60),
    second: rem % 60,
    epochSeconds,
  };
}

function hour12(h: number): number {
  return h % 12 === 0 ? 12 : h % 12;
}

function year4(y: number): string {
  return y >= 0 && y < 1000 ? String(y).padStart(4, '0') : String(y);
}

/** One date shorthand for the given fields. */
function formatDateCode(code: string, f: DateFields): string {
  switch (code) {
    case 'a':
      return DAYS[f.wday].slice(0, 3);
    case 'A':
      return DAYS[f.wday];
    case 'b':
      return MONTHS[f.month - 1].slice(0, 3);
    case 'B':
      return MONTHS[f.month - 1];
    case 'c':
      return `${DAYS[f.wday].slice(0, 3)} ${MONTHS[f.month - 1].slice(0, 3)} ${f.day} ${pad2(f.hour)}:${pad2(f.minute)}:${pad2(f.second)} ${year4(f.year)}`;
    case 'd':
      return pad2(f.day);
    case 'D':
      return `${pad2(f.month)}/${pad2(f.day)}/${pad2(((f.year % 100) + 100) % 100)}`;
    case 'e':
      return String(f.day);
    case 'H':
      return pad2(f.hour);
    case 'I':
      return pad2(hour12(f.hour));
    case 'j':
      return pad3(f.yday);
    case 'k':
      return String(f.hour);
    case 'l':
      return String(hour12(f.hour));
    case 'm':
      return pad2(f.month);
    case 'n':
      return String(f.month);
    case 'M':
      return pad2(f.minute);
    case 'p':
      return f.hour < 12 ? 'AM' : 'PM';
    case 's':
      return String(f.epochSeconds);
    case 'S':
      return pad2(f.second);
    case 'y':
      return pad2(((f.year % 100) + 100) % 100);
    case 'Y':
      return year4(f.year);
    case 'z':
      return '+0000';
    default:
      throw new Error(`not a date code: ${code}`);
  }
}

const BUILTIN_NAMES: Record<string, number> = {
  host: HOST,
  hostname: HOST,
  nanos: NANOS,
  priority: PRIORITY,
  timestamp: MILLIS,
  body: BODY,
};

class CompiledTemplate implements Template {
  readonly isConstant: boolean;
  readonly usesTime: boolean;
  readonly names: readonly string[];
  /** Output depends on the second of the timestamp only: cache the whole string. */
  private readonly secondOnly: boolean;
  private cachedSecond = NaN;
  private readonly dateValues: string[];
  private cachedOutput = '';

  /** Path templates: the byte limit of each value part (0 for other parts); null otherwise. */
  private readonly limits: Uint16Array | null;

  constructor(
    readonly source: string,
    private readonly kinds: Uint8Array,
    private readonly texts: string[],
    path = false,
  ) {
    this.limits = path ? valueLimits(kinds, texts) : null;
    let dynamic = false;
    let time = false;
    let onlySeconds = true;
    const names: string[] = [];
    for (let i = 0; i < kinds.length; i++) {
      const k = kinds[i];
      if (k !== LITERAL) dynamic = true;
      if (k === DATE || k === MILLIS) time = true;
      if (k !== LITERAL && k !== DATE) onlySeconds = false;
      if (k === NAMED && !names.includes(texts[i])) names.push(texts[i]);
    }
    this.isConstant = !dynamic;
    this.usesTime = time;
    this.secondOnly = onlySeconds;
    this.names = names;
    this.dateValues = texts.slice();
    if (!dynamic) this.cachedOutput = texts.join('');
  }

  eventFree(extra?: TemplateExtra): boolean {
    for (let i = 0; i < this.kinds.length; i++) {
      const k = this.kinds[i];
      if (k !== LITERAL && (k !== NAMED || extra?.[this.texts[i]] === undefined)) return false;
    }
    return true;
  }

  format(ev: EscapeSource, extra?: TemplateExtra): string {
    if (this.isConstant) return this.cachedOutput;
    const kinds = this.kinds;
    const texts = this.texts;
    const ts = ev.timestamp;
    const second = Math.floor(ts / 1000);
    if (second !== this.cachedSecond && this.usesTime) this.refreshDates(second);
    if (this.secondOnly) return this.cachedOutput;
    let out = '';
    for (let i = 0; i < kinds.length; i++) {
      switch (kinds[i]) {
        case LITERAL:
          out += texts[i];
          break;
        case DATE:
          out += this.dateValues[i];
          break;
        case MILLIS:
          out += ts;
          break;
        case HOST:
          out += this.limits === null ? ev.host() : pathOf(ev, 'host', '', this.limits[i]);
          break;
        case NANOS:
          out += ev.nanos;
          break;
        case PRIORITY:
          out += Priority[ev.priority] ?? String(ev.priority);
          break;
        case BODY:
          out += this.limits === null ? ev.body() : pathOf(ev, 'body', '', this.limits[i]);
          break;
        case NAMED: {
          const name = texts[i];
          const given = extra !== undefined ? extra[name] : undefined;
          if (this.limits === null) {
            const value = given ?? ev.attribute(name);
            if (value !== undefined) out += value;
          } else {
            const value = given !== undefined ? pathValue(given, this.limits[i]) : pathOf(ev, 'attribute', name, this.limits[i]);
            if (value !== undefined) out += value;
          }
          break;
        }
      }
    }
    return out;
  }

  private refreshDates(second: number): void {
    this.cachedSecond = second;
    const fields = dateFields(second);
    const kinds = this.kinds;
    for (let i = 0; i < kinds.length; i++) {
      if (kinds[i] === DATE) this.dateValues[i] = formatDateCode(this.texts[i], fields);
    }
    if (this.secondOnly) this.cachedOutput = this.dateValues.join('');
  }
}

/** A value of `ev` made safe for a path, from its bytes when the source can. */
function pathOf(ev: EscapeSource, part: PathPart, name: string, max: number): string | undefined {
  if (ev.pathPart !== undefined) return ev.pathPart(part, name, max);
  const text = part === 'host' ? ev.host() : part === 'body' ? ev.body() : ev.attribute(name);
  return text === undefined ? undefined : pathValue(text, max);
}

/**
 * Bytes of a path segment available to event values: a file name is at most 255 bytes, and the
 * writer appends up to about 60 (`.<process>.<n>.tmp`, `.<k>` when a name is taken).
 */
const SEGMENT_BUDGET = 190;
/** The longest a part that is not a value can print, in bytes. */
const FIXED_WIDTH: Record<number, number> = { [DATE]: 24, [MILLIS]: 16, [NANOS]: 20, [PRIORITY]: 12 };

/**
 * The byte limit of each value part of a path template: the segment's budget, less its fixed
 * text, shared by the values in that segment, within [PATH_VALUE_MIN, PATH_VALUE_MAX].
 */
function valueLimits(kinds: Uint8Array, texts: string[]): Uint16Array {
  const limits = new Uint16Array(kinds.length);
  let fixed = 0;
  let members: number[] = [];
  const close = (): void => {
    const share = members.length === 0 ? 0 : Math.floor((SEGMENT_BUDGET - fixed) / members.length);
    for (const m of members) limits[m] = Math.max(PATH_VALUE_MIN, Math.min(PATH_VALUE_MAX, share));
    fixed = 0;
    members = [];
  };
  for (let i = 0; i < kinds.length; i++) {
    const k = kinds[i];
    if (k === HOST || k === BODY || k === NAMED) members.push(i);
    else if (k !== LITERAL) fixed += FIXED_WIDTH[k];
    else {
      const pieces = texts[i].split('/');
      fixed += Buffer.byteLength(pieces[0]);
      for (let p = 1; p < pieces.length; p++) {
        close();
        fixed = Buffer.byteLength(pieces[p]);
      }
    }
  }
  close();
  return limits;
}

/** Compiles a template once; throws TemplateError naming the column of the first problem. */
export function compileTemplate(template: string, options: CompileOptions = {}): Template {
  const kinds: number[] = [];
  const texts: string[] = [];
  let literal = '';
  const flush = (): void => {
    if (literal.length > 0) {
      kinds.push(LITERAL);
      texts.push(literal);
      literal = '';
    }
  };
  let i = 0;
  while (i < template.length) {
    const pct = template.indexOf('%', i);
    if (pct < 0) {
      literal += template.slice(i);
      break;
    }
    literal += template.slice(i, pct);
    const code = template[pct + 1];
    if (code === undefined) {
      throw new TemplateError("lone '%' at the end (write %% for a '%')", template, pct + 1);
    }
    if (code === '%') {
      literal += '%';
      i = pct + 2;
    } else if (code === '{') {
      const close = template.indexOf('}', pct + 2);
      if (close < 0) throw new TemplateError("unterminated '%{': no closing '}'", template, pct + 1);
      const name = template.slice(pct + 2, close);
      if (name.length === 0) throw new TemplateError("empty name in '%{}'", template, pct + 1);
      for (let k = 0; k < name.length; k++) {
        if (!NAME_CHAR.test(name[k])) {
          throw new TemplateError(
            `invalid character ${JSON.stringify(name[k])} in '%{${name}}' (names use letters, digits, '_', '.', '-')`,
            template,
            pct + 3 + k,
          );
        }
      }
      flush();
      kinds.push(BUILTIN_NAMES[name] ?? NAMED);
      texts.push(name);
      i = close + 1;
    } else if (code === 't') {
      flush();
      kinds.push(MILLIS);
      texts.push('t');
      i = pct + 2;
    } else if (DATE_CODES.includes(code)) {
      flush();
      kinds.push(DATE);
      texts.push(code);
      i = pct + 2;
    } else {
      throw new TemplateError(`unknown escape '%${code}' (known: %{name}, %%, %t and %${[...DATE_CODES].join(' %')})`, template, pct + 1);
    }
  }
  flush();
  return new CompiledTemplate(template, Uint8Array.from(kinds), texts, options.path === true);
}
