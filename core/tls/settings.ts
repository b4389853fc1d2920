/**
 * From settings to a process's transport security: mutual TLS from the `tls.*` site-config keys
 * (FLUME_TLS_CA, FLUME_TLS_CERT, FLUME_TLS_KEY, FLUME_TLS_MODE), or plaintext when, and only
 * when, `tls.mode = insecure` says so, with a warning at every start.
 *
 * The result is `TlsContext | undefined`; components take `tls?: TlsContext` and treat undefined
 * as plaintext, so the decision is made once, here, in each composition root.
 */
import type { Logger } from '../logger';
import { onReload } from '../reload';
import { TlsConfigError, TlsContext } from './context';
import type { PeerRole } from './identity';

export type TlsMode = 'mtls' | 'insecure';
export const TLS_MODES: readonly TlsMode[] = ['mtls', 'insecure'];

export interface TlsSettings {
  mode: TlsMode;
  ca?: string;
  cert?: string;
  key?: string;
  /** A file holding the admin bearer token (master only); absent: no token is accepted. */
  adminTokenFile?: string;
}

/** The process's one registry of SIGHUP reload handlers (its shape: name, keys, reload). */
export interface ReloadRegistry {
  onReload(name: string, handler: { keys: readonly never[]; reload(): void }): () => void;
}

/** The process-wide registry of core/reload.ts, for roots that have no registry of their own. */
export const PROCESS_RELOADS: ReloadRegistry = { onReload: (_name, handler) => onReload(() => handler.reload()) };

/** The warning every start in insecure mode logs. */
export const INSECURE_WARNING = 'TLS is OFF (tls.mode = insecure): anyone who can reach this process\'s ports can read and change what it holds. Use it only on a trusted test machine.';

/**
 * Opens the process's TLS (or returns undefined in insecure mode, after the warning). `roles` are
 * the roles this process's own certificate may have; `name`, when given, must be its name.
 * Watches SIGHUP for new certificates. Throws TlsConfigError with what to do.
 */
export function openTls(
  settings: TlsSettings,
  logger: Logger,
  own: { roles: readonly PeerRole[]; name?: string },
  reloads: ReloadRegistry = PROCESS_RELOADS,
): TlsContext | undefined {
  if (settings.mode === 'insecure') {
    logger.warn(INSECURE_WARNING);
    return undefined;
  }
  const missing = (['ca', 'cert', 'key'] as const).filter((k) => !settings[k]);
  if (missing.length > 0) {
    throw new TlsConfigError(undefined, `TLS is on (the default) but ${missing.map((k) => `tls.${k} (FLUME_TLS_${k.toUpperCase()})`).join(', ')} ${missing.length === 1 ? 'is' : 'are'} not set: `
      + 'create a CA and certificates with flume-certs, or run without TLS with tls.mode = insecure (FLUME_TLS_MODE=insecure)');
  }
  const ctx = TlsContext.load({ ca: settings.ca!, cert: settings.cert!, key: settings.key! });
  ctx.requireOwn(own.roles, own.name);
  reloads.onReload('tls', ctx.reloadHandler(logger.child({ component: 'tls' })));
  logger.info('TLS on.', { identity: `${ctx.identity.role}/${ctx.identity.name}`, notAfter: ctx.notAfter.toISOString() });
  return ctx;
}
