/**
 * From settings to a process's transport security: mutual TLS from the `tls.*` site-config keys
 * (FLUME_TLS_CA, FLUME_TLS_CERT, FLUME_TLS_KEY, FLUME_TLS_MODE), or plaintext when, and only
 * when, `tls.mode = insecure` says so, with a warning at every start.
 *
 * The result is `TlsContext | undefined`; components take `tls?: TlsContext` and treat undefined
 * as plaintext, so the decision is made once, here, in each composition root.
 */
import type { Logger } from '../logger';
import { TlsConfigError, TlsContext } from './context';
import type { PeerRole } from './identity';

type TlsMode = 'mtls' | 'insecure';

export interface TlsSettings {
  mode: TlsMode;
  ca?: string;
  cert?: string;
  key?: string;
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
export function openTls(settings: TlsSettings, logger: Logger, own: { roles: readonly PeerRole[]; name?: string }): TlsContext | undefined {
  if (settings.mode === 'insecure') {
    logger.warn(INSECURE_WARNING);
    return undefined;
  }
  const missing = (['ca', 'cert', 'key'] as const).filter((k) => !settings[k]);
  if (missing.length > 0) {
    throw new TlsConfigError(
      undefined,
      `TLS is on (the default) but ${missing.map((k) => `tls.${k} (FLUME_TLS_${k.toUpperCase()})`).join(', ')} ${missing.length === 1 ? 'is' : 'are'} not set: ` +
        'create a CA and certificates with flume-certs, or run without TLS with tls.mode = insecure (FLUME_TLS_MODE=insecure)',
    );
  }
  const ctx = TlsContext.load({ ca: settings.ca!, cert: settings.cert!, key: settings.key! });
  ctx.requireOwn(own.roles, own.name);
  logger.info('TLS on.', { identity: `${ctx.identity.role}/${ctx.identity.name}`, notAfter: ctx.notAfter.toISOString() });
  return ctx;
}
