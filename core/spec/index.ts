/**
 * The dataflow spec language: syntax tree, parser, canonical formatting and path escapes.
 * Import from here, not from the files behind it.
 */
export type { LogicalNodeSpec } from './ast';
export { parseSpec, parseSource, parseSink, tryParseSpec } from './parser';
export { formatCall, formatSink, formatNode } from './print';
