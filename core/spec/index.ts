/**
 * The dataflow spec language: syntax tree, parser, canonical formatting and path escapes.
 * Import from here, not from the files behind it.
 */
export type { Arg, Call, Literal, LogicalNodeSpec, Pos, SinkSpec } from './ast';
export { parseSpec, parseSource, parseSink, tryParseSpec, type SpecParseResult } from './parser';
export { formatCall, formatSink, formatNode, formatLiteral, formatArg, quoteString } from './print';
export {
  compileTemplate,
  escapeSourceOfEvent,
  CursorEscapeSource,
  TemplateError,
  type EscapeSource,
  type Template,
  type TemplateExtra,
} from './escapes';
