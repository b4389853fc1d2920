/**
 * Who may call what on the master's gRPC port, with mutual TLS (core/tls/identity.ts): the one
 * table the port's front door checks before a call reaches its handler.
 *
 * - Admin commands (`Submit`) need an admin certificate or the admin token.
 * - Reading configs, mappings, commands and node status needs admin or read-only.
 * - Nodes (agent or collector certificates) heartbeat and read what they run (their configs,
 *   their chains); a heartbeat is accepted only for the node its certificate names
 *   ({@link checkNodeName}), so nobody can report, or move chains, as another node; and a node
 *   reads only its own logical nodes' configs and chains ({@link checkOwnLogical}): another
 *   node's spec may name paths, hosts and commands it has no business knowing.
 * - A method not in the table is refused to everyone.
 * Without TLS (insecure mode) nothing is checked.
 */
import { ADMIN_ROLES, PeerRefusedError, type PeerIdentity, type PeerRole, READ_ROLES } from '../core/tls';
import type { MasterState } from './store/types';
import { logicalNodesOf } from './nodes';

const NODE_ROLES_ONLY: readonly PeerRole[] = ['agent', 'collector'];
const NODE_OR_READ: readonly PeerRole[] = [...NODE_ROLES_ONLY, ...READ_ROLES];

const METHOD_ROLES: Readonly<Record<string, readonly PeerRole[]>> = {
  '/flume.Master/Heartbeat': NODE_ROLES_ONLY,
  '/flume.Master/Control': NODE_ROLES_ONLY,
  '/flume.Master/GetConfigs': NODE_OR_READ,
  '/flume.Master/GetChain': NODE_OR_READ,
  '/flume.Admin/Submit': ADMIN_ROLES,
  '/flume.Admin/GetCommandStatus': READ_ROLES,
  '/flume.Admin/GetNodeStatus': READ_ROLES,
  '/flume.Admin/GetConfigs': READ_ROLES,
  '/flume.Admin/GetMappings': READ_ROLES,
  '/flume.Admin/ListCommands': READ_ROLES,
  '/flume.Admin/GetMasterInfo': READ_ROLES,
};

/** The roles a method needs; undefined for an unknown method (refused to everyone). */
export function rolesOf(path: string): readonly PeerRole[] | undefined {
  return Object.prototype.hasOwnProperty.call(METHOD_ROLES, path) ? METHOD_ROLES[path] : undefined;
}

/** Throws unless `peer` (a node certificate) names the physical node `physical` it reports for. */
export function checkNodeName(peer: PeerIdentity, physical: string): void {
  if (peer.name !== physical) {
    throw new PeerRefusedError('wrong_role', `the certificate of ${peer.role} "${peer.name}" cannot report as node "${physical}"`);
  }
}

/**
 * The physical node a caller's reads are confined to: its certificate's name for a node (agent or
 * collector) certificate; undefined for admin and read-only readers (and the admin token), who
 * read everything. `peer` is what the port authenticated (a refusal: the token's caller).
 */
export function nodeScopeOf(peer: PeerIdentity | PeerRefusedError): string | undefined {
  return peer instanceof PeerRefusedError || !NODE_ROLES_ONLY.includes(peer.role) ? undefined : peer.name;
}

/**
 * Throws unless node `scope` may read logical nodes `logical` (on behalf of physical node
 * `physical`, '' for itself): only its own name, and only the logical nodes mapped to it.
 */
export function checkOwnLogical(
  state: Readonly<MasterState>,
  scope: string,
  physical: string,
  logical: readonly string[],
  what: string,
): void {
  if (physical !== '' && physical !== scope) {
    throw new PeerRefusedError('wrong_role', `node "${scope}" may not ${what} of node "${physical}"`);
  }
  const own = logicalNodesOf(state, scope);
  const foreign = logical.filter((l) => !own.includes(l));
  if (foreign.length > 0) {
    throw new PeerRefusedError(
      'wrong_role',
      `node "${scope}" may not ${what} of ${foreign.map((l) => `"${l}"`).join(', ')}: not its logical nodes`,
    );
  }
}
