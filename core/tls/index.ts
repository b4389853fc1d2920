/**
 * Transport security: mutual TLS with identities from certificates (identity.ts has the
 * encoding), credentials for every client and server (context.ts), the site-config switch
 * (settings.ts), grpc-js call authentication (peers.ts) and the admin bearer token (token.ts).
 */
export { channelCredentialsFor, serverCredentialsFor, serverRoleCheck, TlsConfigError, TlsContext, type TlsFiles } from './context';
export {
  ADMIN_ROLES, authenticateSocket, countRefusal, describeIdentity, identityOfAltNames, identityUri, isIdentityName, MASTER_ROLES, NODE_ROLES, parseIdentityUri,
  PeerRefusedError, type PeerIdentity, type PeerRole, READ_ROLES, REJECT_REASONS, type RejectReason, rejectCounter, requireRole, ROLES,
} from './identity';
export { GrpcPeers } from './peers';
export { INSECURE_WARNING, openTls, TLS_MODES, type TlsMode, type TlsSettings } from './settings';
export { AdminToken, newAdminToken, TOKEN_IDENTITY } from './token';
export { type ClientTlsFiles, personCredentials } from './client';
export { answerRefusal, authorizeRequest, createGuardedServer, type HttpGuard, schemeOf } from './http';
