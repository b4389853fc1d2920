/**
 * From settings to a process's transport security: mutual TLS from the `tls.*` site-config keys
 * (FLUME_TLS_CA, FLUME_TLS_CERT, FLUME_TLS_KEY, FLUME_TLS_MODE), or plaintext when, and only
 * when, `tls.mode = insecure` says so, with a warning at every start.
 *
 * The result is `TlsContext | undefined`; components take `tls?: TlsContext` and treat undefined
 * as plaintext, so the decision is made once, here, in each composition root.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../logger';
import { TlsConfigError, TlsContext } from './context';
import type { PeerRole } from './identity';

type TlsMode = 'mtls' | 'insecure';

/** The roles this process's own certificate may have; `name`, when given, must be its name. */
interface Own {
  roles: readonly PeerRole[];
  name?: string;
}

export interface TlsSettings {
  mode: TlsMode;
  ca?: string;
  cert?: string;
  key?: string;
  /** A flume-certs directory: fills in whichever of ca, cert and key is unset (certsFromDir). */
  dir?: string;
  /** A file holding the admin bearer token (master only); absent: no token is accepted. */
  adminTokenFile?: string;
}

/** The warning every start in insecure mode logs. */
export const INSECURE_WARNING =
  "TLS is OFF (tls.mode = insecure): anyone who can reach this process's ports can read and change what it holds. Use it only on a trusted test machine.";

/**
 * Opens the process's TLS (or returns undefined in insecure mode, after the warning). `roles` are
 * the roles this process's own certificate may have; `name`, when given, must be its name.
 * Throws TlsConfigError with what to do. The composition root registers
 * `ctx.reloadHandler(logger)` with its core/signals.ts ProcessSignals, so SIGHUP reloads the
 * certificates with the site config.
 */
export function openTls(settings: TlsSettings, logger: Logger, own: Own): TlsContext | undefined {
  if (settings.mode === 'insecure') {
    logger.warn(INSECURE_WARNING);
    return undefined;
  }
  const ctx = TlsContext.load(tlsFiles(settings, own));
  ctx.requireOwn(own.roles, own.name);
  logger.info('TLS on.', { identity: `${ctx.identity.role}/${ctx.identity.name}`, notAfter: ctx.notAfter.toISOString() });
  return ctx;
}

/** Why `openTls` would fail for want of files (undefined: none is missing, or insecure mode). */
export function tlsUnset(settings: TlsSettings, own: Own): string | undefined {
  if (settings.mode === 'insecure') return undefined;
  try {
    tlsFiles(settings, own);
    return undefined;
  } catch (err) {
    if (err instanceof TlsConfigError) return err.message;
    throw err;
  }
}

/** The CA, certificate and key that `settings` name, tls.dir filling in any unset. */
function tlsFiles(settings: TlsSettings, own: Own): { ca: string; cert: string; key: string } {
  const { ca, cert, key } = settings.dir === undefined ? settings : { ...settings, ...fromDirWhereUnset(settings, settings.dir, own) };
  if (ca && cert && key) return { ca, cert, key };
  const missing = Object.entries({ ca, cert, key }).filter(([, v]) => !v);
  throw new TlsConfigError(
    undefined,
    `TLS is on (the default) but ${missing.map(([k]) => `tls.${k} (FLUME_TLS_${k.toUpperCase()})`).join(', ')} ${missing.length === 1 ? 'is' : 'are'} not set: ` +
      'create a CA and certificates with flume-certs (then tls.dir = its directory, FLUME_TLS_DIR), or run without TLS with tls.mode = insecure (FLUME_TLS_MODE=insecure)',
  );
}

/**
 * The files of one identity in a directory laid out by flume-certs: `ca.crt` and
 * `<role>-<name>.crt` / `.key`. The certificate is the one whose role is one of `roles` and whose
 * name is `name` (any name when undefined); none or several is an error naming the candidates.
 */
export function certsFromDir(dir: string, roles: readonly PeerRole[], name?: string): { ca: string; cert: string; key: string } {
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch (err) {
    throw new TlsConfigError(
      undefined,
      `tls.dir ${dir} cannot be read (${(err as NodeJS.ErrnoException).code}): create it with flume-certs init`,
    );
  }
  const fits = entries.filter(
    (f) => f.endsWith('.crt') && roles.some((r) => (name === undefined ? f.startsWith(`${r}-`) : f === `${r}-${name}.crt`)),
  );
  const wanted = roles.map((r) => `${r}-${name ?? '*'}.crt`).join(' or ');
  if (fits.length !== 1) {
    throw new TlsConfigError(
      undefined,
      fits.length === 0
        ? `tls.dir ${dir} has no ${wanted}: issue one with flume-certs --dir ${dir} issue ${roles[0]} ${name ?? 'NAME'}`
        : `tls.dir ${dir} has several certificates that fit (${fits.join(', ')}): name this process (or set tls.cert and tls.key)`,
    );
  }
  const base = path.join(dir, fits[0].slice(0, -'.crt'.length));
  return { ca: path.join(dir, 'ca.crt'), cert: `${base}.crt`, key: `${base}.key` };
}

function fromDirWhereUnset(settings: TlsSettings, dir: string, own: Own): Partial<TlsSettings> {
  if (settings.ca && settings.cert && settings.key) return {};
  const files = certsFromDir(dir, own.roles, own.name);
  return { ca: settings.ca || files.ca, cert: settings.cert || files.cert, key: settings.key || files.key };
}
