/** The lifecycle every long-running component shares. */
export type LifecycleState = 'IDLE' | 'STARTING' | 'RUNNING' | 'STOPPING' | 'STOPPED' | 'ERROR';

export interface Lifecycle {
  /** Resolves once the component can do its work; rejects if it cannot start. */
  start(): Promise<void>;
  /** Resolves once the component has released everything; idempotent. */
  stop(): Promise<void>;
  readonly state: LifecycleState;
}
