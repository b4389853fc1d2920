/**
 * Who may call what on the master's gRPC port, with mutual TLS (core/tls/identity.ts): the one
 * table the port's front door checks before a call reaches its handler.
 *
 * - Admin commands (`Submit`) need an admin certificate or the admin token.
 * - Reading configs, mappings, commands and node status needs admin or read-only.
 * - Nodes (agent or collector certificates) heartbeat and read what they run (their configs,
 *   their chains); a heartbeat is accepted only for the node its certificate names
 *   ({@link checkNodeName}), so nobody can report, or move chains, as another node.
 * - A method not in the table is refused to everyone.
 * Without TLS (insecure mode) nothing is checked.
 */
import { ADMIN_ROLES, PeerRefusedError, type PeerIdentity, type PeerRole, READ_ROLES } from '../core/tls';

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
