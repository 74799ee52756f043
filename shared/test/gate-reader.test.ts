import { describe, expect, it } from "vitest";
import {
  assertFeature,
  type CallContext,
  type FlagSet,
  type FlagSetLoader,
  GATE_FLAGS,
  GateReader,
  identityContext,
  isServiceError,
} from "../src/index";

const call: CallContext = { requestId: "gate-reader-test" };

/** A flag set where `voice.enabled` is off for one account (an override) and on for the rest. */
function setWithOverride(account: string, version = "v1"): FlagSet {
  return {
    version,
    flags: {
      "voice.enabled": { definition: { ...GATE_FLAGS["voice.enabled"], version }, overrides: { [account]: "off" } },
    },
  };
}

/** A FLAGS binding that counts its snapshot calls, answering `set` (or failing). */
function countingSource(answer: () => FlagSet): FlagSetLoader & { calls: number } {
  const source = Object.assign(
    async (_call: CallContext): Promise<FlagSet> => {
      source.calls += 1;
      return answer();
    },
    { calls: 0 },
  );
  return source;
}

describe("GateReader", () => {
  it("loads the set once and evaluates every later gate from memory while it is fresh", async () => {
    const reader = new GateReader();
    const source = countingSource(() => setWithOverride("guest:off"));
    const off = await reader.value("voice.enabled", { targetingKey: "guest:off" }, source, "30", call);
    expect(off).toBe(false);
    for (let i = 0; i < 100; i++) {
      expect(await reader.value("voice.enabled", { targetingKey: `guest:${i}` }, source, "30", call)).toBe(true);
    }
    // The same set answers every gate: an undefined gate flag is its built-in default.
    expect(await reader.value("si.models", { targetingKey: "guest:off" }, source, "30", call)).toEqual({
      models: ["*"],
    });
    expect(source.calls).toBe(1);
  });

  it("loads again on every call with a TTL of 0", async () => {
    const reader = new GateReader();
    let version = 0;
    const source = countingSource(() => setWithOverride(`guest:${++version}`, `v${version}`));
    expect(await reader.value("voice.enabled", { targetingKey: "guest:1" }, source, "0", call)).toBe(false);
    // The second load moved the override to guest:2.
    expect(await reader.value("voice.enabled", { targetingKey: "guest:1" }, source, "0", call)).toBe(true);
    expect(source.calls).toBe(2);
  });

  it("answers the built-in defaults while no set can be loaded, and keeps trying", async () => {
    const reader = new GateReader();
    let down = true;
    const source = countingSource(() => {
      if (down) throw new Error("flags worker unavailable");
      return setWithOverride("guest:off");
    });
    expect(await reader.value("voice.enabled", { targetingKey: "guest:off" }, source, "30", call)).toBe(true);
    expect(await reader.value("rag.hybrid", { targetingKey: "guest:off" }, source, "30", call)).toBe(true);
    down = false;
    expect(await reader.value("voice.enabled", { targetingKey: "guest:off" }, source, "30", call)).toBe(false);
    expect(source.calls).toBe(3);
  });

  it("keeps serving the last set when a reload fails", async () => {
    const reader = new GateReader();
    let down = false;
    const source = countingSource(() => {
      if (down) throw new Error("flags worker unavailable");
      return setWithOverride("guest:off");
    });
    expect(await reader.value("voice.enabled", { targetingKey: "guest:off" }, source, "0", call)).toBe(false);
    down = true;
    expect(await reader.value("voice.enabled", { targetingKey: "guest:off" }, source, "0", call)).toBe(false);
  });
});

describe("gate helpers", () => {
  it("builds the context a service has: the account and its email's domain", () => {
    expect(identityContext({ sub: "guest:a", source: "jwt", admin: false })).toEqual({ targetingKey: "guest:a" });
    expect(identityContext({ sub: "email:x", email: "Ana@Example.COM", source: "jwt", admin: false })).toEqual({
      targetingKey: "email:x",
      email_domain: "example.com",
    });
  });

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
