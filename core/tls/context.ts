/**
 * A process's TLS material (the cluster CA, its own certificate and key) and every credential made
 * from it: grpc-js server and channel credentials, options for Node `tls`/`https` servers and
 * clients. The one place that turns files into credentials (node → master, agent → collector,
 * shell → master, the HTTP pages all call here).
 *
 * Contract:
 * - `TlsContext.load` reads the three PEM files and refuses, with one clear sentence, a key that
 *   does not match the certificate, a certificate not issued by the CA, one expired or not yet
 *   valid, or one that names no flume identity (identity.ts has the encoding);
 * - `reload()` (called at SIGHUP, see `reloadHandler`) reads them again;
 *   on any problem it keeps the material it had and throws. Servers made from this context pick
 *   up the new certificate for new connections (grpc-js watchers, `setSecureContext`); clients
 *   for new connections; established connections keep theirs;
 * - servers ask for a client certificate and do not fail the handshake without one: each call is
 *   authorized by the code that serves it (identity.ts: `authenticateSocket`, `requireRole`), so
 *   the client hears why it was refused;
 * - clients verify the server's chain against the CA and its role (not its hostname: nodes are
 *   reached at addresses the master hands out), e.g. an agent talks only to a `collector`.
 */
import * as grpc from '@grpc/grpc-js';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import type * as tls from 'node:tls';
import { FlumeError } from '../errors';
import type { Logger } from '../logger';
import { describeIdentity, identityOfAltNames, type PeerIdentity, type PeerRole } from './identity';

export interface TlsFiles {
  /** The cluster CA certificate (PEM). */
  ca: string;
  /** This process's certificate (PEM), issued by the CA. */
  cert: string;
  /** Its private key (PEM). */
  key: string;
}

/** TLS cannot start: a file is missing, unreadable, or its certificate is not usable. */
export class TlsConfigError extends FlumeError {
  constructor(
    readonly file: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

interface Material {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
  identity: PeerIdentity;
  notAfter: Date;
}

/** Expiry closer than this is logged as a warning at load and reload. */
const EXPIRY_WARNING_MS = 14 * 24 * 3600 * 1000;

function read(file: string, what: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new TlsConfigError(file, `cannot read the ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function loadMaterial(files: TlsFiles, now = Date.now()): Material {
  const ca = read(files.ca, 'CA certificate');
  const cert = read(files.cert, 'certificate');
  const key = read(files.key, 'private key');
  let caX: crypto.X509Certificate;
  let certX: crypto.X509Certificate;
  let keyObj: crypto.KeyObject;
  try {
    caX = new crypto.X509Certificate(ca);
  } catch (err) {
    throw new TlsConfigError(files.ca, `${files.ca} is not a PEM certificate: ${(err as Error).message}`);
  }
  try {
    certX = new crypto.X509Certificate(cert);
  } catch (err) {
    throw new TlsConfigError(files.cert, `${files.cert} is not a PEM certificate: ${(err as Error).message}`);
  }
  try {
    keyObj = crypto.createPrivateKey(key);
  } catch (err) {
    throw new TlsConfigError(files.key, `${files.key} is not a PEM private key: ${(err as Error).message}`);
  }
  if (!certX.checkPrivateKey(keyObj))
    throw new TlsConfigError(files.key, `the key ${files.key} does not belong to the certificate ${files.cert}`);
  if (!certX.checkIssued(caX) || !certX.verify(caX.publicKey)) {
    throw new TlsConfigError(
      files.cert,
      `the certificate ${files.cert} (${certX.subject.replace(/\n/g, ', ')}) was not issued by the CA ${files.ca}`,
    );
  }
  const notAfter = new Date(certX.validTo);
  if (notAfter.getTime() <= now)
    throw new TlsConfigError(files.cert, `the certificate ${files.cert} expired on ${certX.validTo}: renew it (flume-certs renew)`);
  if (new Date(certX.validFrom).getTime() > now)
    throw new TlsConfigError(files.cert, `the certificate ${files.cert} is not valid before ${certX.validFrom}`);
  const identity = identityOfAltNames(certX.subjectAltName);
  if (!identity)
    throw new TlsConfigError(
      files.cert,
      `the certificate ${files.cert} names no flume identity (subjectAltName URI flume://<role>/<name>); issue it with flume-certs`,
    );
  return { ca, cert, key, identity, notAfter };
}

type Listener<T> = (update: T | null) => void;

/** A server's or client's TLS: one per process (or per role it plays), from the composition root. */
export class TlsContext implements grpc.experimental.CertificateProvider {
  private material: Material;
  private readonly changeListeners = new Set<() => void>();
  private readonly caListeners = new Set<Listener<grpc.experimental.CaCertificateUpdate>>();
  private readonly idListeners = new Set<Listener<grpc.experimental.IdentityCertificateUpdate>>();

  private constructor(
    readonly files: TlsFiles,
    material: Material,
  ) {
    this.material = material;
  }

  /** Reads and checks the files (see the header); throws TlsConfigError. */
  static load(files: TlsFiles): TlsContext {
    return new TlsContext(files, loadMaterial(files));
  }

  /** Who this process is, from its own certificate. */
  get identity(): PeerIdentity {
    return this.material.identity;
  }

  get notAfter(): Date {
    return this.material.notAfter;
  }

  /** The PEM bytes now in use. */
  get pem(): { ca: Buffer; cert: Buffer; key: Buffer } {
    const { ca, cert, key } = this.material;
    return { ca, cert, key };
  }

  /** Throws unless this process's own certificate has one of `roles` (and `name`, when given). */
  requireOwn(roles: readonly PeerRole[], name?: string): void {
    const id = this.identity;
    if (!roles.includes(id.role)) {
      throw new TlsConfigError(
        this.files.cert,
        `the certificate ${this.files.cert} is for ${describeIdentity(id)}; this process needs a ${roles.join(' or ')} certificate`,
      );
    }
    if (name !== undefined && id.name !== name) {
      throw new TlsConfigError(
        this.files.cert,
        `the certificate ${this.files.cert} is for ${describeIdentity(id)}, not "${name}": give this node that name or issue it its own certificate`,
      );
    }
  }

  /** Reads the files again; keeps the old material and throws if they are not usable. */
  reload(): void {
    const next = loadMaterial(this.files);
    if (next.identity.role !== this.material.identity.role || next.identity.name !== this.material.identity.name) {
      throw new TlsConfigError(
        this.files.cert,
        `the new certificate ${this.files.cert} is for ${describeIdentity(next.identity)}, not ${describeIdentity(this.material.identity)}; kept the old one`,
      );
    }
    this.material = next;
    for (const l of this.caListeners) l({ caCertificate: next.ca });
    for (const l of this.idListeners) l({ certificate: next.cert, privateKey: next.key });
    for (const l of this.changeListeners) l();
  }

  /** Called after each successful reload; returns the unsubscriber. */
  onChange(listener: () => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /**
   * What a SIGHUP does for TLS: reload, log the outcome (a failure keeps the old material and is
   * rethrown, so the reload registry reports it too); warns when the certificate expires within
   * two weeks. Register it with the process's ProcessSignals (core/signals.ts): `signals.onReload('tls', ...)`.
   */
  reloadHandler(logger: Logger): { keys: readonly never[]; reload(): void } {
    this.warnIfExpiring(logger);
    return {
      keys: [],
      reload: () => {
        try {
          this.reload();
        } catch (err) {
          logger.error('TLS certificates not reloaded; the old ones stay in use.', { error: (err as Error).message });
          throw err;
        }
        logger.info('Reloaded TLS certificates.', { identity: describeIdentity(this.identity), notAfter: this.notAfter.toISOString() });
        this.warnIfExpiring(logger);
      },
    };
  }

  private warnIfExpiring(logger: Logger): void {
    const left = this.notAfter.getTime() - Date.now();
    if (left < EXPIRY_WARNING_MS)
      logger.warn('TLS certificate expires soon: renew it (flume-certs renew).', {
        file: this.files.cert,
        notAfter: this.notAfter.toISOString(),
      });
  }

  // grpc.experimental.CertificateProvider: the CA and this process's pair, now and after each reload.
  addCaCertificateListener(listener: Listener<grpc.experimental.CaCertificateUpdate>): void {
    this.caListeners.add(listener);
    listener({ caCertificate: this.material.ca });
  }

  removeCaCertificateListener(listener: Listener<grpc.experimental.CaCertificateUpdate>): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: Listener<grpc.experimental.IdentityCertificateUpdate>): void {
    this.idListeners.add(listener);
    listener({ certificate: this.material.cert, privateKey: this.material.key });
  }

  removeIdentityCertificateListener(listener: Listener<grpc.experimental.IdentityCertificateUpdate>): void {
    this.idListeners.delete(listener);
  }

  /** Secure-context options (key, cert, CA) as Node's `tls` takes them. */
  contextOptions(): tls.SecureContextOptions {
    const { ca, cert, key } = this.material;
    return { ca, cert, key, minVersion: 'TLSv1.2' };
  }

  /**
   * Options for a Node `tls`/`https`/`http2` server: our certificate, the client's asked for but
   * not required (the caller authorizes each request: identity.ts `authenticateSocket`).
   * Pair with {@link watchServer} so a reload reaches it.
   */
  serverOptions(): tls.TlsOptions {
    return { ...this.serverContextOptions(), requestCert: true, rejectUnauthorized: false };
  }

  /**
   * {@link contextOptions} for a server: no session tickets. Our clients (grpc-js, Node's https)
   * never resume a session, so the two tickets OpenSSL sends after every TLS 1.3 handshake were
   * never used, and making them cost the server ~11 KB per open connection (measured with
   * test/bench/conn-cost.ts: 2,000 mutual-TLS connections, 55 → 43 KB each; 10,000 nodes on a master: ~110 MB).
   */
  serverContextOptions(): tls.SecureContextOptions {
    return { ...this.contextOptions(), secureOptions: crypto.constants.SSL_OP_NO_TICKET };
  }

  /** Keeps `server`'s certificate current across reloads; returns the unsubscriber. */
  watchServer(server: tls.Server): () => void {
    return this.onChange(() => server.setSecureContext(this.serverContextOptions()));
  }

  /** grpc-js server credentials (same rules as {@link serverOptions}), kept current across reloads. */
  serverCredentials(): grpc.ServerCredentials {
    return new ReloadingServerCredentials(this);
  }

  /** Options for a Node `tls`/`https` client that accepts only a server whose role is in `expect`. */
  clientOptions(expect: readonly PeerRole[]): tls.ConnectionOptions {
    return { ...this.contextOptions(), checkServerIdentity: serverRoleCheck(expect) };
  }

  /** grpc-js channel credentials: our certificate, a server of one of the roles `expect`. */
  channelCredentials(expect: readonly PeerRole[]): grpc.ChannelCredentials {
    return grpc.experimental.createCertificateProviderChannelCredentials(this, this, { checkServerIdentity: serverRoleCheck(expect) });
  }
}

/**
 * Channel options for every grpc-js client: grpc-js sends the target host as the TLS server name
 * and Node warns (DEP0123) when that is an IP address. Servers are checked by their flume role,
 * not their host name, so one fixed name serves every target.
 */
export const TLS_CHANNEL_OPTIONS = { 'grpc.ssl_target_name_override': 'flume' } as const;

/** A `checkServerIdentity` that checks the server's flume role instead of its hostname. */
export function serverRoleCheck(expect: readonly PeerRole[]): (host: string, cert: tls.PeerCertificate) => Error | undefined {
  return (host, cert) => {
    const id = identityOfAltNames(cert.subjectaltname);
    if (id && expect.includes(id.role)) return undefined;
    return new TlsConfigError(
      undefined,
      `the server at ${host} presents ${id ? describeIdentity(id) : 'a certificate with no flume identity'}, expected a ${expect.join(' or ')}`,
    );
  };
}

class ReloadingServerCredentials extends grpc.ServerCredentials {
  constructor(ctx: TlsContext) {
    super({ requestCert: true, rejectUnauthorized: false }, ctx.serverContextOptions());
    ctx.onChange(() => this.updateSecureContextOptions(ctx.serverContextOptions()));
  }

  _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}

/**
 * The one function every grpc-js server of a process calls for its credentials: mutual TLS from
 * `tls`, or plaintext when there is none (insecure mode, chosen in the composition root).
 */
export function serverCredentialsFor(tls: TlsContext | undefined): grpc.ServerCredentials {
  return tls ? tls.serverCredentials() : grpc.ServerCredentials.createInsecure();
}

/** The same for every grpc-js client: `expect` is the role the server must have (e.g. ['master']). */
export function channelCredentialsFor(tls: TlsContext | undefined, expect: readonly PeerRole[]): grpc.ChannelCredentials {
  return tls ? tls.channelCredentials(expect) : grpc.credentials.createInsecure();
}
