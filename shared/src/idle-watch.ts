/** A use starts a fresh watch when the running one is older than this. */
const RENEW_MS = 5_000;
/** A watch lasts the idle period plus this long: past the renewal age, within waitUntil's limit. */
const SPAN_MS = 10_000;

/** The clock and timer an {@link IdleWatch} runs on (tests move their own). */
export interface IdleWatchClock {
  now: () => number;
  sleep: (ms: number) => Promise<void>;
}

/**
 * Runs work once something per-isolate (an SI allowance, a gateway's request slots) has gone
 * unused, from the `waitUntil` of the requests that used it. One watch runs at a time, kept alive
 * by the request that started it; a use starts a fresh one when the running one is older than
 * RENEW_MS, so one always lives past the last use's idle period, and none outlives its request's
 * `waitUntil` (a watch older than its span returns: a newer use's watch has taken over).
 */
export class IdleWatch {
  private started: number | undefined;

  constructor(
    private readonly idleMs: number,
    private readonly clock: IdleWatchClock,
  ) {}

  /** Whether a watch is running. */
  get running(): boolean {
    return this.started !== undefined;
  }

  /**
   * Called on every use. `untilIdle` says how long is left before the thing counts as idle (≤ 0:
   * idle now); `onIdle` runs once it is. Returns a new watch's work for the caller's `waitUntil`,
   * or undefined when the running watch will do.
   */
  touch(untilIdle: () => number, onIdle: () => Promise<void>): Promise<void> | undefined {
    const now = this.clock.now();
    if (this.started !== undefined && now - this.started <= RENEW_MS) return undefined;
    this.started = now;
    return this.run(now, untilIdle, onIdle);
  }

  private async run(watch: number, untilIdle: () => number, onIdle: () => Promise<void>): Promise<void> {
    for (;;) {
      const wait = untilIdle();
      if (wait <= 0) break;
      if (this.clock.now() - watch > this.idleMs + SPAN_MS) return;
      await this.clock.sleep(Math.max(1, wait));
      if (this.started !== watch) return;
    }
    this.started = undefined;
    await onIdle();
  }
}
