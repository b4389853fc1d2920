/**
 * Names of control-plane enum values for people who read them (logs, the status page). The
 * numbers, and the message shapes, are generated from proto/flume.proto into proto/messages.ts.
 */
import { NodeStateCode, type NodeStateName } from './messages';

const NODE_STATE_NAMES = new Map<number, NodeStateName>(Object.entries(NodeStateCode).map(([name, code]) => [code, name as NodeStateName]));

/** The name of a flume.NodeState number; 'UNKNOWN' for one this build does not know. */
export function nodeStateName(code: number): NodeStateName | 'UNKNOWN' {
  return NODE_STATE_NAMES.get(code) ?? 'UNKNOWN';
}
