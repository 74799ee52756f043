import { describe, expect, it } from "vitest";
import { assertFeature, type CallContext, type FlagSet, GATE_FLAGS, gateFor, isServiceError } from "../src/index";

const call: CallContext = { requestId: "feature-gates-test" };

/** A flag set where `voice.enabled` is off for one account (an override) and on for the rest. */
function setWithOverride(account: string, version = "v1"): FlagSet {
  return {
    version,
    flags: {
      "voice.enabled": { definition: { ...GATE_FLAGS["voice.enabled"], version }, overrides: { [account]: "off" } },
    },
  };
}

/** A FLAGS binding double that counts its snapshot calls, answering `answer()` (which may throw). */
function countingFlags(answer: () => FlagSet) {
  const flags = {
    calls: 0,
    async snapshot(_call: CallContext): Promise<FlagSet> {
      flags.calls += 1;
      return answer();
    },
  };
  return flags;
}

describe("gateFor", () => {
  it("loads the set once per binding and evaluates every later gate from memory while it is fresh", async () => {
    const flags = countingFlags(() => setWithOverride("guest:off"));
    expect(await gateFor(flags, "30", "voice.enabled", { targetingKey: "guest:off" }, call)).toBe(false);
    for (let i = 0; i < 100; i++) {
      expect(await gateFor(flags, "30", "voice.enabled", { targetingKey: `guest:${i}` }, call)).toBe(true);
    }
    // The same set answers every gate: one it does not define is its built-in default.
    expect(await gateFor(flags, "30", "si.models", { targetingKey: "guest:off" }, call)).toEqual({ models: ["*"] });
    expect(await gateFor(flags, "30", "rag.hybrid", { targetingKey: "guest:off" }, call)).toBe(true);
    expect(flags.calls).toBe(1);
  });

  it("loads again on every call with a TTL of 0", async () => {
    let version = 0;
    const flags = countingFlags(() => setWithOverride(`guest:${++version}`, `v${version}`));
    expect(await gateFor(flags, "0", "voice.enabled", { targetingKey: "guest:1" }, call)).toBe(false);
    // The second load moved the override to guest:2.
    expect(await gateFor(flags, "0", "voice.enabled", { targetingKey: "guest:1" }, call)).toBe(true);
    expect(flags.calls).toBe(2);
  });

  it("answers the built-in defaults while no set can be loaded, and keeps trying", async () => {
    let down = true;
    const flags = countingFlags(() => {
      if (down) throw new Error("flags worker unavailable");
      return setWithOverride("guest:off");
    });
    expect(await gateFor(flags, "30", "voice.enabled", { targetingKey: "guest:off" }, call)).toBe(true);
    expect(await gateFor(flags, "30", "scaffold.enabled", { targetingKey: "guest:off" }, call)).toBe(true);
    down = false;
    expect(await gateFor(flags, "30", "voice.enabled", { targetingKey: "guest:off" }, call)).toBe(false);
    expect(flags.calls).toBe(3);
  });

  it("keeps serving the last set when a reload fails", async () => {
    let down = false;
    const flags = countingFlags(() => {
      if (down) throw new Error("flags worker unavailable");
      return setWithOverride("guest:off");
    });
    expect(await gateFor(flags, "0", "voice.enabled", { targetingKey: "guest:off" }, call)).toBe(false);
    down = true;
    expect(await gateFor(flags, "0", "voice.enabled", { targetingKey: "guest:off" }, call)).toBe(false);
  });

  it("answers the default for a gate flag whose value has the wrong shape", async () => {
    const broken: FlagSet = {
      version: "broken",
      flags: {
        "si.models": {
          definition: { ...GATE_FLAGS["si.models"], variants: { all: { models: "everything" } } },
          overrides: {},
        },
      },
    };
    const flags = countingFlags(() => broken);
    expect(await gateFor(flags, "30", "si.models", { targetingKey: "guest:a" }, call)).toEqual({ models: ["*"] });
  });
});

describe("assertFeature", () => {
  it("turns an off gate into 403 feature_disabled naming the flag", () => {
    expect(() => assertFeature("voice.enabled", true)).not.toThrow();
    try {
      assertFeature("scaffold.enabled", false);
      expect.unreachable();
    } catch (error) {
      expect(isServiceError(error) && { code: error.code, status: error.status, details: error.details }).toEqual({
        code: "feature_disabled",
        status: 403,
        details: { flag: "scaffold.enabled" },
      });
    }
  });
});
