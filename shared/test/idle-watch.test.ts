import { describe, expect, it } from "vitest";
import { IdleWatch } from "../src/idle-watch";

/** A clock that moves only when a watch sleeps. */
function manualClock() {
  const clock = {
    at: 0,
    now: () => clock.at,
    sleep: async (ms: number) => {
      clock.at += ms;
    },
  };
  return clock;
}

describe("IdleWatch", () => {
  it("runs its work once the thing has been idle long enough, and then no longer runs", async () => {
    const clock = manualClock();
    const watch = new IdleWatch(2_000, clock);
    let lastUsed = 0;
    let released = 0;
    const first = watch.touch(
      () => 2_000 - (clock.now() - lastUsed),
      async () => {
        released += 1;
      },
    );
    expect(watch.running).toBe(true);
    await first;
    expect({ released, at: clock.at, running: watch.running }).toEqual({ released: 1, at: 2_000, running: false });
    lastUsed = clock.at;
    expect(
      watch.touch(
        () => 0,
        async () => {},
      ),
    ).toBeDefined();
  });

  it("leaves a running watch in charge until it is older than the renewal age", () => {
    const clock = manualClock();
    const watch = new IdleWatch(2_000, { now: clock.now, sleep: () => new Promise(() => {}) });
    expect(
      watch.touch(
        () => 1,
        async () => {},
      ),
    ).toBeDefined();
    clock.at = 5_000;
    expect(
      watch.touch(
        () => 1,
        async () => {},
      ),
    ).toBeUndefined();
    clock.at = 5_001;
    expect(
      watch.touch(
        () => 1,
        async () => {},
      ),
    ).toBeDefined();
  });

  it("gives up past its span: a newer use's watch has taken over", async () => {
    const clock = manualClock();
    const watch = new IdleWatch(2_000, clock);
    let released = false;
    // Never idle: a call that stays live.
    await watch.touch(
      () => 1_000,
      async () => {
        released = true;
      },
    );
    expect(released).toBe(false);
    expect(clock.at).toBeGreaterThan(12_000);
  });
});
