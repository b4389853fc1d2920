// Generated from proto/flume.proto by proto/gen-messages.ts: do not edit.
// Regenerate: npx tsc -p . && node dist/proto/gen-messages.js
//
// Plain-object shapes of the messages as proto/index.ts decodes them (longs and enums as
// numbers, bytes as Buffers, defaults filled in), and the number of every enum value.

/**
 * flume.Priority
 *
 * Severity, in Flume OG's order (lower is more severe).
 */
export const PriorityCode = {
  FATAL: 0,
  ERROR: 1,
  WARN: 2,
  INFO: 3,
  DEBUG: 4,
  TRACE: 5,
} as const;

export type PriorityName = keyof typeof PriorityCode;

/** flume.Event */
export interface WireEvent {
  body: Buffer;
  attributes: Record<string, Buffer>;
  /** milliseconds since the epoch */
  timestamp: number;
  /** sub-millisecond part, for ordering events of one millisecond */
  nanos: number;
  /** flume.Priority, see PriorityCode */
  priority: number;
  host: string;
}

/**
 * flume.BatchId
 *
 * Unique per origin: the origin is the logical node (or client) that made the batch, and seq
 * grows by one for every batch it makes, across restarts.
 */
export interface WireBatchId {
  origin: string;
  seq: number;
}

/**
 * flume.EventBatch
 *
 * Writers put fields 1-3 first and the events last, so that the CRC covers one contiguous
 * run of bytes: the concatenation of every encoded `events` field (tag, length and value).
 * A hop verifies the CRC and passes the bytes on without decoding the events.
 */
export interface WireEventBatch {
  id: WireBatchId | null;
  count: number;
  crc32c: number;
  events: WireEvent[];
}

/** flume.AckKind */
export const AckKindCode = {
  /** committed to the next tier's durable channel */
  HOP: 0,
  /** durable in storage */
  END_TO_END: 1,
} as const;

export type AckKindName = keyof typeof AckKindCode;

/** flume.AckStatus */
export const AckStatusCode = {
  OK: 0,
  /** the batch will never be accepted (bad checksum, too large); do not resend */
  REJECTED: 1,
  /** not accepted now (channel full, shutting down); resend later */
  RETRY: 2,
} as const;

export type AckStatusName = keyof typeof AckStatusCode;

/** flume.Ack */
export interface WireAck {
  id: WireBatchId | null;
  /** flume.AckKind, see AckKindCode */
  kind: number;
  /** flume.AckStatus, see AckStatusCode */
  status: number;
  message: string;
  /** for REJECTED / RETRY: the gRPC status code of the cause (DATA_LOSS, ...) */
  code: number;
}

/** flume.AppendHello */
export interface WireAppendHello {
  /** physical node name of the sender */
  agent: string;
  flow: string;
  /** the sender waits for END_TO_END acks: the collector tracks them */
  endToEnd: boolean;
}

/**
 * flume.AppendRequest
 *
 * The first message of an Append stream, and only the first: its hello. Every later message is
 * one EventBatch, bare (not wrapped in a message of its own), see service Collector.
 */
export interface WireAppendRequest {
  hello: WireAppendHello | null;
}

/** flume.StoredQuery */
export interface WireStoredQuery {
  origin: string;
  seqs: number[];
}

/** flume.StoredReply */
export interface WireStoredReply {
  /** the subset of the queried seqs already durable in storage */
  stored: number[];
}

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

/** flume.LogicalNodeStatus */
export interface WireLogicalNodeStatus {
  name: string;
  /** flume.NodeState, see NodeStateCode */
  state: number;
  configVersion: number;
  message: string;
  counters: Record<string, number>;
  /** host:port a collector source listens on (automatic chains) */
  listen: string;
}

/** flume.HeartbeatRequest */
export interface WireHeartbeatRequest {
  physical: string;
  host: string;
  /** agent | collector */
  role: string;
  logical: WireLogicalNodeStatus[];
  /** ms since epoch, tells a restart from a long silence */
  startedAt: number;
}

/** flume.ConfigVersion */
export interface WireConfigVersion {
  logical: string;
  version: number;
}

/** flume.HeartbeatReply */
export interface WireHeartbeatReply {
  /** the logical nodes this physical node must run */
  logical: string[];
  versions: WireConfigVersion[];
  heartbeatMs: number;
}

/** flume.LogicalConfig */
export interface WireLogicalConfig {
  logical: string;
  version: number;
  flow: string;
  source: string;
  sink: string;
}

/** flume.ConfigRequest */
export interface WireConfigRequest {
  physical: string;
  logical: string[];
}

/** flume.ConfigReply */
export interface WireConfigReply {
  configs: WireLogicalConfig[];
}

/** flume.ChainRequest */
export interface WireChainRequest {
  logical: string;
  flow: string;
}

/** flume.ChainReply */
export interface WireChainReply {
  /** host:port, in failover order */
  collectors: string[];
  version: number;
}

/**
 * flume.NodeReport
 *
 * The control stream: one per physical node, open for as long as the node talks to this master.
 * Up: a NodeReport when the node starts talking, every heartbeat interval, and soon after a
 * logical node changes state. Down: a NodeDirective when the stream opens and whenever what the
 * node must run (configs, mappings) or the chains it follows change, the moment the change is
 * committed. The sender writes sent_at_ms first (field 1, a fixed 9 bytes), so two reports with
 * the same status differ only in their first 9 bytes: the master recognises a repeated status
 * without decoding it.
 */
export interface WireNodeReport {
  /** sender's clock, ms since epoch with fractions (status delay) */
  sentAtMs: number;
  status: WireHeartbeatRequest | null;
  /** automatic chains this node follows; their lists come down */
  chains: WireChainRequest[];
}

/** flume.ChainAssignment */
export interface WireChainAssignment {
  logical: string;
  flow: string;
  /** host:port, in failover order */
  collectors: string[];
  version: number;
}

/** flume.NodeDirective */
export interface WireNodeDirective {
  /** the logical nodes this physical node must run */
  logical: string[];
  /** the config of each of them that has one, current version */
  configs: WireLogicalConfig[];
  heartbeatMs: number;
  /** one for each ChainRequest of the last report */
  chains: WireChainAssignment[];
  /** id of the master that sends it */
  master: string;
}

/** flume.Empty */
export type WireEmpty = Record<string, never>;

/** flume.CommandRequest */
export interface WireCommandRequest {
  command: string;
  args: string[];
  /**
   * Chosen by the client, the same for every resend of one command: a master that has seen it
   * answers with the first command's id instead of queueing it again. Empty: no such guarantee.
   */
  clientId: string;
}

/** flume.CommandId */
export interface WireCommandId {
  id: number;
}

/** flume.CommandState */
export const CommandStateCode = {
  QUEUED: 0,
  EXECING: 1,
  SUCCEEDED: 2,
  FAILED: 3,
} as const;

export type CommandStateName = keyof typeof CommandStateCode;

/** flume.CommandStatus */
export interface WireCommandStatus {
  id: number;
  command: string;
  args: string[];
  /** flume.CommandState, see CommandStateCode */
  state: number;
  message: string;
  submittedAt: number;
  finishedAt: number;
}

/** flume.NodeStatus */
export interface WireNodeStatus {
  physical: string;
  host: string;
  role: string;
  /** flume.NodeState, see NodeStateCode */
  state: number;
  lastSeen: number;
  logical: WireLogicalNodeStatus[];
}

/** flume.NodeStatusList */
export interface WireNodeStatusList {
  nodes: WireNodeStatus[];
}

/** flume.ConfigList */
export interface WireConfigList {
  configs: WireLogicalConfig[];
}

/** flume.MappingQuery */
export interface WireMappingQuery {
  /** empty: every physical node */
  physical: string;
}

/** flume.Mapping */
export interface WireMapping {
  physical: string;
  logical: string[];
}

/** flume.MappingList */
export interface WireMappingList {
  mappings: WireMapping[];
}

/** flume.CommandQuery */
export interface WireCommandQuery {
  /** the newest `limit` commands (0: the master's default, 100) */
  limit: number;
  /** only QUEUED and EXECING ones */
  pendingOnly: boolean;
}

/** flume.CommandList */
export interface WireCommandList {
  /** oldest first */
  commands: WireCommandStatus[];
}

/** flume.MasterInfo */
export interface WireMasterInfo {
  id: string;
  /** runs the once-only duties (command execution) right now */
  leader: boolean;
  /** embedded | zookeeper */
  store: string;
  /** false while its ZooKeeper session is lost */
  fresh: boolean;
}
