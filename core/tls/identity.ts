/**
 * Who is on the other end of a TLS connection, from its certificate alone.
 *
 * ENCODING (written by bin/flume-certs, read here; nothing else names a peer):
 * - the identity is one subjectAltName URI `flume://<role>/<name>`, e.g. `flume://agent/web01`,
 *   `flume://collector/coll1`, `flume://master/m1`, `flume://admin/alice`,
 *   `flume://read-only/dashboards`;
 * - `role` is one of {@link ROLES}; `name` is the physical node name (`node.name`, `--name`) or the
 *   admin's name: 1 to 128 characters of `[A-Za-z0-9_.-]` (no `/`, so the URI cannot be read two
 *   ways);
 * - the subject is `CN=<name>, OU=<role>, O=flume` for people reading `openssl x509 -text`; it is
 *   never used for a decision. A certificate with no flume URI, or two of them, names nobody.
 * - the certificate must chain to the cluster's CA (the `tls.ca` file); hostnames are not checked:
 *   a node is reached at whatever address the master or the operator gives, and what it is
 *   allowed to do follows from its role, checked by the side that accepts the call.
 *
 * A server asks for a client certificate but lets the handshake finish without one (Node's
 * `requestCert: true, rejectUnauthorized: false`), then refuses each call that lacks the role it
 * needs: the client is told why (expired, another CA, wrong role) instead of a bare handshake
 * alert, and the refusal is counted (`tls_rejected_<reason>` on the process's `tls` component).
 */
import type * as tls from 'node:tls';
import { status } from '@grpc/grpc-js';
import type { ComponentCounters } from '../component';
import { FlumeError } from '../errors';

export const ROLES = ['agent', 'collector', 'master', 'admin', 'read-only'] as const;
export type PeerRole = (typeof ROLES)[number];

/** Node roles and admin roles. */
export const NODE_ROLES: readonly PeerRole[] = ['agent', 'collector', 'master'];
/** Who may read configs and status. */
export const READ_ROLES: readonly PeerRole[] = ['admin', 'read-only'];
/** Who may change them (admin commands). */
export const ADMIN_ROLES: readonly PeerRole[] = ['admin'];
/** What a node or shell expects at the other end of its master connection. */
export const MASTER_ROLES: readonly PeerRole[] = ['master'];

export interface PeerIdentity {
  readonly role: PeerRole;
  readonly name: string;
}

const NAME = /^[A-Za-z0-9_.-]{1,128}$/;
const URI = /^flume:\/\/([a-z-]+)\/([^/]+)$/;

export function isIdentityName(name: string): boolean {
  return NAME.test(name) && name !== '.' && name !== '..';
}

/** `flume://<role>/<name>`: the subjectAltName URI of a certificate. */
export function identityUri(id: PeerIdentity): string {
  if (!isIdentityName(id.name)) throw new FlumeError(`"${id.name}" cannot name a certificate: use 1 to 128 of A-Z a-z 0-9 _ . -`);
  return `flume://${id.role}/${id.name}`;
}

function parseIdentityUri(uri: string): PeerIdentity | undefined {
  const m = URI.exec(uri);
  if (!m || !(ROLES as readonly string[]).includes(m[1]) || !isIdentityName(m[2])) return undefined;
  return { role: m[1] as PeerRole, name: m[2] };
}

/**
 * The identity in a subjectAltName string as Node prints it (`URI:flume://agent/web01, DNS:x`),
 * from `PeerCertificate.subjectaltname` or `X509Certificate.subjectAltName`.
 */
export function identityOfAltNames(altNames: string | undefined): PeerIdentity | undefined {
  if (!altNames) return undefined;
  let found: PeerIdentity | undefined;
  for (const part of altNames.split(/,\s*/)) {
    const text = part.startsWith('URI:') ? part.slice(4).replace(/^"|"$/g, '') : undefined;
    if (text === undefined || !text.startsWith('flume://')) continue;
    const id = parseIdentityUri(text);
    if (!id || found) return undefined; // malformed, or two identities: nobody
    found = id;
  }
  return found;
}

export function describeIdentity(id: PeerIdentity | undefined): string {
  return id ? `${id.role} "${id.name}"` : 'an unauthenticated client';
}

/** Why a peer was refused; each one is a counter `tls_rejected_<reason>`. */
export type RejectReason = 'no_certificate' | 'unknown_ca' | 'expired' | 'not_yet_valid' | 'no_identity' | 'wrong_role' | 'bad_token';

/** The counter name of a refusal, on the process's `tls` component. */
export function rejectCounter(reason: RejectReason): string {
  return `tls_rejected_${reason}`;
}

/** A peer refused: UNAUTHENTICATED (no usable certificate) or PERMISSION_DENIED (wrong role). */
export class PeerRefusedError extends FlumeError {
  override readonly grpcCode: status;
  constructor(
    readonly reason: RejectReason,
    message: string,
  ) {
    super(message);
    this.grpcCode = reason === 'wrong_role' ? status.PERMISSION_DENIED : status.UNAUTHENTICATED;
  }

  /** The HTTP status a web page answers with. */
  get httpStatus(): number {
    return this.reason === 'wrong_role' ? 403 : 401;
  }
}

const EXPIRED = new Set(['CERT_HAS_EXPIRED']);
const NOT_YET_VALID = new Set(['CERT_NOT_YET_VALID']);

/**
 * The identity a TLS socket's client certificate proves, or why it proves none. A plain socket
 * (insecure mode) yields `undefined`: the caller decides what insecure mode allows.
 */
export function authenticateSocket(socket: tls.TLSSocket): PeerIdentity | PeerRefusedError {
  const cert = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) {
    return new PeerRefusedError(
      'no_certificate',
      "no client certificate: this port needs a certificate from the cluster's CA (flume-certs issue)",
    );
  }
  if (!socket.authorized) {
    // Node sets authorizationError to the OpenSSL code (a string), though typed as an Error.
    const raw = socket.authorizationError as unknown as string | NodeJS.ErrnoException | null;
    const codeText = typeof raw === 'string' ? raw : String(raw?.code ?? raw?.message ?? 'unknown');
    const subject = `certificate ${cert.subject?.CN ?? '(no CN)'}`;
    if (EXPIRED.has(codeText))
      return new PeerRefusedError('expired', `${subject} expired on ${cert.valid_to}: renew it (flume-certs renew)`);
    if (NOT_YET_VALID.has(codeText)) return new PeerRefusedError('not_yet_valid', `${subject} is not valid before ${cert.valid_from}`);
    return new PeerRefusedError('unknown_ca', `${subject} is not from this cluster's CA (${codeText})`);
  }
  const id = identityOfAltNames(cert.subjectaltname);
  if (!id)
    return new PeerRefusedError(
      'no_identity',
      `certificate ${cert.subject?.CN ?? ''} names no flume identity (a subjectAltName URI flume://<role>/<name>)`,
    );
  return id;
}

/** Refuses `id` unless its role is one of `roles`; `what` says what was asked for. */
export function requireRole(id: PeerIdentity | PeerRefusedError, roles: readonly PeerRole[], what: string): PeerIdentity {
  if (id instanceof PeerRefusedError) throw id;
  if (!roles.includes(id.role)) {
    throw new PeerRefusedError('wrong_role', `${describeIdentity(id)} may not ${what} (needs ${roles.join(' or ')})`);
  }
  return id;
}

/** Counts a refusal (`counters` is the process's `tls` component) and returns it, to throw. */
export function countRefusal(counters: ComponentCounters | undefined, err: unknown): unknown {
  if (err instanceof PeerRefusedError) counters?.add(rejectCounter(err.reason));
  return err;
}
