/**
 * The syntax tree of the dataflow spec language (Flume OG's), as the parser produces it and the
 * registry and the node runtime consume it. Every node keeps its position for error messages.
 *
 *     web01 : tail("/var/log/app.log") | { batch(100) => agentE2ESink("c1", 35853) } ;
 *     coll1 : collectorSource(35853) | collector(30000) { collectorSink("file:///d/%Y/", "web-") } ;
 */

/** 1-based line and column of the first character of a construct. */
export interface Pos {
  line: number;
  column: number;
}

export type Literal =
  | { kind: 'string'; value: string; pos: Pos }
  | { kind: 'number'; value: number; pos: Pos }
  | { kind: 'boolean'; value: boolean; pos: Pos }
  /** A bare word used as a value, e.g. `format(raw)` or `roll(1000, rolltag)`. */
  | { kind: 'identifier'; value: string; pos: Pos };

/** A positional argument, or `name=value`. */
export type Arg = Literal | { kind: 'keyword'; name: string; value: Literal; pos: Pos };

/** `name(args...)` or a bare `name`: a source, a plain sink, or a decorator. */
export interface Call {
  name: string;
  args: Arg[];
  pos: Pos;
}

export type SinkSpec =
  /** A plain sink: `console`, `text("f")`. */
  | { kind: 'sink'; call: Call; pos: Pos }
  /** `{ deco => sink }`, or `deco sink` without braces. */
  | { kind: 'decorated'; decorator: Call; sink: SinkSpec; pos: Pos }
  /** `[ a, b, ... ]`: every sink gets every batch. */
  | { kind: 'fanout'; sinks: SinkSpec[]; pos: Pos }
  /** `< primary ? backup >`: backup while the primary fails, back to the primary after a backoff. */
  | { kind: 'failover'; primary: SinkSpec; backup: SinkSpec; pos: Pos }
  /**
   * `name(args) { sink }`: a sink that wraps another with a body, such as `roll(ms) { sink }` and
   * `collector(ms) { sink }`.
   */
  | { kind: 'wrapper'; call: Call; body: SinkSpec; pos: Pos };

export interface LogicalNodeSpec {
  name: string;
  source: Call;
  sink: SinkSpec;
  pos: Pos;
  /** The exact text of `source` and of `sink` in the input, for display and for diffs. */
  sourceText: string;
  sinkText: string;
}
