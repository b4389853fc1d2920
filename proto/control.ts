/**
 * Names and numbers of the control-plane enums of proto/flume.proto, for code that speaks the
 * wire (enums travel as numbers, see proto/index.ts) and people who read them (names).
 */

/** flume.NodeState */
export const NodeStateCode = {
  HELLO: 0,
  IDLE: 1,
  CONFIGURING: 2,
  ACTIVE: 3,
  ERROR: 4,
  LOST: 5,
  DECOMMISSIONED: 6,
  CLOSING: 7,
} as const;

export type NodeStateName = keyof typeof NodeStateCode;

export const NODE_STATE_NAMES: readonly NodeStateName[] = [
  'HELLO', 'IDLE', 'CONFIGURING', 'ACTIVE', 'ERROR', 'LOST', 'DECOMMISSIONED', 'CLOSING',
];

export function nodeStateName(code: number): NodeStateName | 'UNKNOWN' {
  return NODE_STATE_NAMES[code] ?? 'UNKNOWN';
}

/** flume.CommandState */
export const CommandStateCode = { QUEUED: 0, EXECING: 1, SUCCEEDED: 2, FAILED: 3 } as const;

export type CommandStateName = keyof typeof CommandStateCode;

/** Plain-object shapes of the control-plane messages, as proto/index.ts decodes them. */
export interface WireLogicalNodeStatus {
  name: string;
  state: number;
  configVersion: number;
  message: string;
  counters: Record<string, number>;
  /** host:port of a collector source (automatic chains); '' or absent otherwise. */
  listen?: string;
}

export interface WireHeartbeatRequest {
  physical: string;
  host: string;
  role: string;
  logical: WireLogicalNodeStatus[];
  startedAt: number;
}

export interface WireHeartbeatReply {
  logical: string[];
  versions: Array<{ logical: string; version: number }>;
  heartbeatMs: number;
}

export interface WireLogicalConfig {
  logical: string;
  version: number;
  flow: string;
  source: string;
  sink: string;
}

export interface WireConfigRequest {
  physical: string;
  logical: string[];
}

export interface WireCommandStatus {
  id: number;
  command: string;
  args: string[];
  state: number;
  message: string;
  submittedAt: number;
  finishedAt: number;
}

export interface WireNodeStatus {
  physical: string;
  host: string;
  role: string;
  state: number;
  lastSeen: number;
  logical: WireLogicalNodeStatus[];
}
