/**
 * The cluster's certificate authority on disk, driven through `openssl` (Debian's, 3.x): create a
 * CA, issue and renew certificates for masters, nodes and admins with the identity encoding of
 * core/tls/identity.ts (subjectAltName URI `flume://<role>/<name>`).
 *
 * Layout of a certificate directory (default ./certs, or FLUME_CERTS_DIR):
 *   ca.crt, ca.key                 the CA (ca.key: mode 0600; keep it off the nodes)
 *   <role>-<name>.crt / .key       one pair per identity (key: 0600)
 *   admin-token                    optional bearer token (flume-certs token)
 * Keys are ECDSA P-256. A renewal keeps the key and issues a new certificate with a new validity,
 * so only the .crt file changes and a SIGHUP makes the process use it.
 *
 * Issuing goes through `openssl ca` with a throwaway database (no state besides the files
 * above), because only it takes explicit validity dates in OpenSSL 3.0 (tests make expired and
 * not-yet-valid certificates with them).
 */
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FlumeError } from '../core/errors';
import { identityUri, isIdentityName, type PeerIdentity, ROLES } from '../core/tls/identity';
import { newAdminToken } from '../core/tls/token';

class CertToolError extends FlumeError {}

export interface IssuedFiles {
  ca: string;
  cert: string;
  key: string;
}

export interface IssueOptions {
  /** Validity in days from now (default 365). */
  days?: number;
  /** Explicit validity instead of `days` (tests). */
  notBefore?: Date;
  notAfter?: Date;
  /** Extra DNS names or IP addresses for clients that check hostnames (curl, browsers). */
  hosts?: string[];
}

export const CERT_DEFAULTS = { caDays: 3650, days: 365, dir: 'certs' } as const;

function openssl(args: string[], cwd?: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') throw new CertToolError('openssl is not installed (Debian: apt-get install -y openssl)');
    throw new CertToolError(`openssl ${args[0]} failed: ${e.stderr?.toString().trim() || e.message}`);
  }
}

export function caFiles(dir: string): { cert: string; key: string } {
  return { cert: path.join(dir, 'ca.crt'), key: path.join(dir, 'ca.key') };
}

export function identityFiles(dir: string, id: PeerIdentity): IssuedFiles {
  const base = path.join(dir, `${id.role}-${id.name}`);
  return { ca: caFiles(dir).cert, cert: `${base}.crt`, key: `${base}.key` };
}

/** Creates the CA in `dir` unless one is there; returns whether it made one. */
export function initCa(dir: string, options: { days?: number; name?: string } = {}): boolean {
  const ca = caFiles(dir);
  if (fs.existsSync(ca.cert) && fs.existsSync(ca.key)) return false;
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  openssl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    ca.key,
    '-out',
    ca.cert,
    '-days',
    String(options.days ?? CERT_DEFAULTS.caDays),
    '-subj',
    `/O=flume/CN=${options.name ?? `flume cluster CA ${crypto.randomBytes(4).toString('hex')}`}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  fs.chmodSync(ca.key, 0o600);
  return true;
}

function checkIdentity(id: PeerIdentity): void {
  if (!(ROLES as readonly string[]).includes(id.role)) throw new CertToolError(`unknown role "${id.role}" (known: ${ROLES.join(', ')})`);
  if (!isIdentityName(id.name)) throw new CertToolError(`"${id.name}" cannot name a certificate: use 1 to 128 of A-Z a-z 0-9 _ . -`);
}

function stamp(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:T]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

function sign(dir: string, id: PeerIdentity, keyFile: string, certFile: string, options: IssueOptions): void {
  const ca = caFiles(dir);
  if (!fs.existsSync(ca.cert) || !fs.existsSync(ca.key)) throw new CertToolError(`no CA in ${dir}: run flume-certs init first`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'flume-certs-'));
  try {
    const csr = path.join(tmp, 'req.csr');
    openssl(['req', '-new', '-key', keyFile, '-subj', `/O=flume/OU=${id.role}/CN=${id.name}`, '-out', csr]);
    const hosts = options.hosts ?? (id.role === 'admin' || id.role === 'read-only' ? [] : ['localhost', '127.0.0.1']);
    const alt = [`URI:${identityUri(id)}`, ...hosts.map((h) => (/^[\d.]+$|:/.test(h) ? `IP:${h}` : `DNS:${h}`))];
    fs.writeFileSync(
      path.join(tmp, 'ext'),
      [
        `subjectAltName=${alt.join(',')}`,
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature,keyAgreement',
        'extendedKeyUsage=serverAuth,clientAuth',
        '',
      ].join('\n'),
    );
    fs.writeFileSync(path.join(tmp, 'index.txt'), '');
    fs.writeFileSync(
      path.join(tmp, 'ca.cnf'),
      [
        '[ca]',
        'default_ca=d',
        '[d]',
        `database=${path.join(tmp, 'index.txt')}`,
        `new_certs_dir=${tmp}`,
        'default_md=sha256',
        'policy=p',
        'unique_subject=no',
        'rand_serial=yes',
        '[p]',
        'commonName=supplied',
        'organizationalUnitName=optional',
        'organizationName=optional',
        '',
      ].join('\n'),
    );
    const validity = options.notAfter
      ? ['-startdate', stamp(options.notBefore ?? new Date()), '-enddate', stamp(options.notAfter)]
      : ['-days', String(options.days ?? CERT_DEFAULTS.days)];
    const out = path.join(tmp, 'out.crt');
    openssl([
      'ca',
      '-batch',
      '-notext',
      '-config',
      path.join(tmp, 'ca.cnf'),
      '-in',
      csr,
      '-out',
      out,
      '-keyfile',
      ca.key,
      '-cert',
      ca.cert,
      '-extfile',
      path.join(tmp, 'ext'),
      ...validity,
    ]);
    fs.renameSync(out, certFile); // atomic: a process reloading at this moment sees old or new
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** Issues a new key and certificate for `id` (replacing any), signed by the CA in `dir`. */
export function issue(dir: string, id: PeerIdentity, options: IssueOptions = {}): IssuedFiles {
  checkIdentity(id);
  const files = identityFiles(dir, id);
  const key = `${files.key}.new`;
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
  fs.chmodSync(key, 0o600);
  try {
    sign(dir, id, key, `${files.cert}.new`, options);
  } catch (err) {
    fs.rmSync(key, { force: true });
    throw err;
  }
  fs.renameSync(key, files.key);
  fs.renameSync(`${files.cert}.new`, files.cert);
  return files;
}

/** A new certificate for `id` with its existing key (only the .crt changes). */
export function renew(dir: string, id: PeerIdentity, options: IssueOptions = {}): IssuedFiles {
  checkIdentity(id);
  const files = identityFiles(dir, id);
  if (!fs.existsSync(files.key)) throw new CertToolError(`no key ${files.key} to renew: use flume-certs issue ${id.role} ${id.name}`);
  sign(dir, id, files.key, files.cert, options);
  return files;
}

/** The CA (if missing) and a certificate for each identity that has none. */
export function ensureCerts(dir: string, ids: PeerIdentity[]): Map<string, IssuedFiles> {
  initCa(dir);
  const out = new Map<string, IssuedFiles>();
  for (const id of ids) {
    const files = identityFiles(dir, id);
    out.set(`${id.role}/${id.name}`, fs.existsSync(files.cert) && fs.existsSync(files.key) ? files : issue(dir, id));
  }
  return out;
}

/** Writes a new admin token to `dir/admin-token` (0600) unless `keep` and one exists; returns its path. */
export function writeAdminToken(dir: string, keep = true): string {
  const file = path.join(dir, 'admin-token');
  if (keep && fs.existsSync(file)) return file;
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(file, `${newAdminToken()}\n`, { mode: 0o600 });
  return file;
}

/** The environment a process of identity `id` needs to find its files (FLUME_TLS_*). */
export function tlsEnv(files: IssuedFiles): Record<string, string> {
  return { FLUME_TLS_CA: files.ca, FLUME_TLS_CERT: files.cert, FLUME_TLS_KEY: files.key };
}
