/**
 * Transport security: mutual TLS with identities from certificates (identity.ts has the
 * encoding), credentials for every client and server (context.ts), the site-config switch
 * (settings.ts), grpc-js call authentication (peers.ts) and the admin bearer token (token.ts).
 */
export { channelCredentialsFor, serverCredentialsFor, TLS_CHANNEL_OPTIONS, TlsContext } from './context';
export {
  ADMIN_ROLES,
  countRefusal,
  MASTER_ROLES,
  NODE_ROLES,
  PeerRefusedError,
  type PeerIdentity,
  type PeerRole,
  READ_ROLES,
  type RejectReason,
  rejectCounter,
  requireRole,
} from './identity';
export { GrpcPeers } from './peers';
export { certsFromDir, INSECURE_WARNING, openTls, type TlsSettings, tlsUnset } from './settings';
export { AdminToken } from './token';
export { personCredentials } from './client';
