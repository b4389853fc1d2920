/**
 * Runs queued commands, in id order, one at a time, on the leader only.
 *
 * It wakes up when the store says the queue changed, when leadership is gained, and every
 * `pollMs` in case a notification was missed. A command a leader started and did not finish (it
 * died) is found QUEUED (no store writes EXECING any more; EXECING in a store older masters
 * wrote): its effect and its final state are written together (`ConfigStore.finish`), so it was
 * not applied and is simply run again.
 */
import type { Logger } from '../core/logger';
import { planCommand, type CommandContext } from './commands';
import type { CommandRecord, ConfigStore } from './store/types';

export interface ExecutorOptions {
  pollMs: number;
}

export class CommandExecutor {
  private running = false;
  private again = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly wake = (): void => void this.drain();

  constructor(
    private readonly store: ConfigStore,
    private readonly ctx: CommandContext,
    private readonly options: ExecutorOptions,
    private readonly logger: Logger,
    /** Called after each finished command (metrics). */
    private readonly onFinished: (record: CommandRecord) => void = () => undefined,
  ) {}

  start(): void {
    this.store.on('commands', this.wake);
    this.store.on('leader', this.wake);
    this.timer = setInterval(this.wake, this.options.pollMs);
    this.timer.unref();
    void this.drain();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.store.off('commands', this.wake);
    this.store.off('leader', this.wake);
    clearInterval(this.timer);
    while (this.running) await new Promise((r) => setTimeout(r, 10));
  }

  /** Executes pending commands until none is left; concurrent calls coalesce. */
  private async drain(): Promise<void> {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    try {
      do {
        this.again = false;
        if (this.stopped || !this.store.isLeader || !this.store.fresh) return;
        const pending = await this.store.pendingCommands();
        for (const record of pending) {
          if (this.stopped || !this.store.isLeader) return;
          await this.execute(record);
        }
      } while (this.again);
    } catch (err) {
      this.logger.warn('Command execution paused.', { error: (err as Error).message });
    } finally {
      this.running = false;
    }
  }

  private async execute(record: CommandRecord): Promise<void> {
    if (record.state === 'EXECING') this.logger.info('Running again a command its leader did not finish.', { id: record.id });
    await this.store.markExecuting(record.id);
    const done = await this.store.finish(record.id, (draft) => planCommand(record.command, record.args, this.ctx)(draft));
    const fields = { id: done.id, command: done.command, result: done.message };
    if (done.state === 'SUCCEEDED') this.logger.info('Command succeeded.', fields);
    else this.logger.warn('Command failed.', fields);
    this.onFinished(done);
  }
}
