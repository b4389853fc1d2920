/**
 * The dataflow spec language: syntax tree, parser, canonical formatting and path escapes.
 * Import from here, not from the files behind it.
 */
export type { Arg, Call, Literal, LogicalNodeSpec, Pos, SinkSpec } from './ast';
export { MAX_SPEC_DEPTH, parseSpec, parseSource, parseSink, tryParseSpec, type SpecParseResult } from './parser';
export { formatCall, formatSink, formatNode, formatLiteral, formatArg, quoteString } from './print';
export {
  compileTemplate,
  escapeSourceOfEvent,
  CursorEscapeSource,
  TemplateError,
  type CompileOptions,
  type EscapeSource,
  type Template,
  type TemplateExtra,
} from './escapes';
export { decodePathValue, pathValue, pathValueOfBytes, PATH_VALUE_MAX } from './path-value';
