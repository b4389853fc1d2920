/**
 * What a flume process does on SIGHUP, SIGTERM and SIGINT: the one place components register to
 * be told about a reload.
 *
 *   SIGHUP          re-read the site config (file, FLUME_* environment, flags as first given),
 *                   log which keys changed and which of them take effect now or at restart, then
 *                   run every registered reload handler (certificates, the log level, ...). A
 *                   config with problems is refused as a whole (every problem logged) and the
 *                   process runs on as before; handlers are not called then.
 *   SIGTERM/SIGINT  `stop(signal)` once; a second one exits at once with status 1.
 *
 * Contract of a handler (`onReload(name, handler)`):
 * - `keys` are the site-config keys it applies while running; a changed key no handler names is
 *   reported as "at restart". A handler with no keys (certificate files) runs on every reload.
 * - `reload(change)` runs after the new config was read and checked, one handler at a time, in
 *   registration order. A handler that throws keeps its old state; the error is logged with its
 *   name and the other handlers still run. It must not stop the process.
 * - `onReload` returns the function that unregisters it (for components that stop earlier).
 *
 * The composition root (master/cli.ts, node/cli.ts) builds one `ProcessSignals`, installs it
 * before anything slow starts (a HUP during startup must not kill the process: Node's default
 * for SIGHUP is to exit), and passes it down to what needs to register.
 */
import type { Logger } from './logger';
import type { SiteConfig, SiteKey } from './site-config';

/** What changed between two loads of the site config. */
interface ReloadChange {
  readonly previous: SiteConfig;
  readonly next: SiteConfig;
  /** Keys whose effective value differs, in schema order. */
  readonly changed: readonly SiteKey[];
}

export interface ReloadHandler {
  /** Site-config keys this handler applies without a restart. */
  readonly keys: readonly SiteKey[];
  reload(change: ReloadChange): void | Promise<void>;
}

/** What one reload did; also what the log line says. */
export interface ReloadReport {
  ok: boolean;
  changed: SiteKey[];
  /** Changed keys a handler applied. */
  now: SiteKey[];
  /** Changed keys that need a restart. */
  atRestart: SiteKey[];
  /** Handlers that threw, with their message; or the config's problems when !ok. */
  failed: string[];
}

export interface ProcessSignalsOptions {
  logger: Logger;
  /** The effective site config the process started with. */
  site: SiteConfig;
  /** Reads the site config again the way the process first read it; throws on problems. */
  loadSite: () => SiteConfig;
  /** Begins a clean stop; called once, with the signal's name. */
  stop: (signal: NodeJS.Signals) => void;
}

const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

export class ProcessSignals {
  private readonly handlers = new Map<string, ReloadHandler>();
  private readonly listeners = new Map<NodeJS.Signals, () => void>();
  private site: SiteConfig;
  private stopping = false;
  private reloading: Promise<ReloadReport> = Promise.resolve({ ok: true, changed: [], now: [], atRestart: [], failed: [] });

  constructor(private readonly options: ProcessSignalsOptions) {
    this.site = options.site;
    // The log level is the one key every process applies by itself.
    this.onReload('log', { keys: ['log.level'], reload: ({ next }) => void (options.logger.level = next['log.level']) });
  }

  /** The site config as last (re)loaded. */
  get current(): SiteConfig {
    return this.site;
  }

  onReload(name: string, handler: ReloadHandler): () => void {
    if (this.handlers.has(name)) throw new Error(`a reload handler named ${name} is already registered`);
    this.handlers.set(name, handler);
    return () => {
      if (this.handlers.get(name) === handler) this.handlers.delete(name);
    };
  }

  /** Listens for SIGHUP, SIGTERM and SIGINT. */
  install(): this {
    const on = (signal: NodeJS.Signals, fn: () => void): void => {
      this.listeners.set(signal, fn);
      process.on(signal, fn);
    };
    on('SIGHUP', () => void this.reload());
    for (const signal of STOP_SIGNALS) on(signal, () => this.onStopSignal(signal));
    return this;
  }

  uninstall(): void {
    for (const [signal, fn] of this.listeners) process.off(signal, fn);
    this.listeners.clear();
  }

  /** Re-reads the site config and runs the handlers; reloads never overlap. */
  reload(): Promise<ReloadReport> {
    this.reloading = this.reloading.then(() => this.reloadOnce());
    return this.reloading;
  }

  private onStopSignal(signal: NodeJS.Signals): void {
    if (this.stopping) {
      this.options.logger.warn('Second stop signal: exiting without waiting.', { signal });
      process.exit(1);
    }
    this.stopping = true;
    this.options.stop(signal);
  }

  private async reloadOnce(): Promise<ReloadReport> {
    const { logger } = this.options;
    let next: SiteConfig;
    try {
      next = this.options.loadSite();
    } catch (err) {
      const problems = (err as Error).message;
      logger.error('Site config not reloaded: it has problems; running on with the previous one.', { problems });
      return { ok: false, changed: [], now: [], atRestart: [], failed: [problems] };
    }
    const previous = this.site;
    const changed = (Object.keys(next) as SiteKey[]).filter((k) => !sameValue(previous[k], next[k]));
    this.site = next;
    const applied = new Set<SiteKey>();
    const failed: string[] = [];
    for (const [name, handler] of [...this.handlers]) {
      const mine = handler.keys.filter((k) => changed.includes(k));
      if (handler.keys.length > 0 && mine.length === 0) continue;
      try {
        await handler.reload({ previous, next, changed });
        for (const k of mine) applied.add(k);
      } catch (err) {
        failed.push(`${name}: ${(err as Error).message}`);
        logger.error('Reload failed for one component; it keeps its previous settings.', {
          component: name,
          error: (err as Error).message,
        });
      }
    }
    const now = changed.filter((k) => applied.has(k));
    const atRestart = changed.filter((k) => !applied.has(k));
    const fields: Record<string, string> = {};
    if (changed.length > 0)
      Object.assign(fields, { changed: changed.join(','), now: now.join(',') || 'none', at_restart: atRestart.join(',') || 'none' });
    fields.reloaded = [...this.handlers.keys()].join(',');
    logger.info(changed.length === 0 ? 'Site config reloaded: nothing changed.' : 'Site config reloaded.', fields);
    return { ok: true, changed, now, atRestart, failed };
  }
}

function sameValue(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => v === b[i]);
  return a === b;
}
