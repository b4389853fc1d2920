/**
 * The one place a process learns "reload from disk" (SIGHUP): certificates (core/tls) and, later,
 * the site config register here; nothing else installs a SIGHUP handler.
 *
 * Contract: listeners run in registration order, synchronously, each in its own try/catch (a
 * listener that throws is reported through `onError` and does not stop the others). The SIGHUP
 * handler is installed with the first listener and removed with the last, so a process that
 * registers nothing keeps Node's default (exit on SIGHUP).
 */

export type ReloadListener = () => void;

const listeners = new Set<ReloadListener>();
let errorSink: (err: unknown) => void = () => undefined;
const onSignal = (): void => {
  reloadNow();
};

/** Runs `listener` at every SIGHUP (and every `reloadNow()`); returns the unsubscriber. */
export function onReload(listener: ReloadListener): () => void {
  listeners.add(listener);
  if (listeners.size === 1) process.on('SIGHUP', onSignal);
  return () => {
    if (!listeners.delete(listener)) return;
    if (listeners.size === 0) process.off('SIGHUP', onSignal);
  };
}

/** Where a listener's failure goes (the composition root's logger); default: dropped. */
export function onReloadError(sink: (err: unknown) => void): void {
  errorSink = sink;
}

/** Runs every listener now, as a SIGHUP would. Returns how many failed. */
export function reloadNow(): number {
  let failed = 0;
  for (const l of [...listeners]) {
    try {
      l();
    } catch (err) {
      failed++;
      errorSink(err);
    }
  }
  return failed;
}
