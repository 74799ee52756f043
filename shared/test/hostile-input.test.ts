import * as v from "valibot";
import { describe, expect, it } from "vitest";
import {
  AppGraph,
  AskRequest,
  CreateJobRequest,
  creditsToMicro,
  entityCollection,
  GuestTokenRequest,
  IdempotencyKey,
  normalizeEmail,
  PublishKeyRequest,
  RagIngestRequest,
  UsageQuery,
  UsageReport,
} from "../src/index";

// Every regular expression in shared/ sees client input. Each gets 100 KB shaped to make a
// backtracking pattern retry (long runs of what it accepts, then one character it refuses); the
// test's own timeout is the guard.
const KB100 = 100_000;
const run = (unit: string, tail = "!") => unit.repeat(Math.ceil(KB100 / unit.length)) + tail;

describe("shared patterns on 100 KB of hostile input", () => {
  it("email addresses: the guest token body and normalizeEmail", () => {
    for (const hostile of [
      `a@${run("a.")}`,
      `a@${run("a-")}`,
      `a@${run("a")}`,
      `${run("a.", "@")}`,
      `${run("a")}@${run("a")}`,
      `a@${run("a-a.", "1")}`,
      `a@${run(`${"a".repeat(61)}-a.`)}`,
      run(" "),
    ]) {
      expect(v.safeParse(GuestTokenRequest, { email: hostile }).success).toBe(false);
      expect(normalizeEmail(hostile)).toBeUndefined();
    }
  });

  it("ids, kinds, keys and names in request bodies", () => {
    for (const unit of ["a", "a.", "a-", ".a", "a:", "1", "a.a-"]) {
      expect(v.safeParse(CreateJobRequest, { kind: run(unit), input: {} }).success).toBe(false);
      expect(v.safeParse(CreateJobRequest, { kind: "si.ask", input: {}, run_at: run(unit) }).success).toBe(false);
      expect(v.safeParse(RagIngestRequest, { id: run(unit), text: "x" }).success).toBe(false);
      expect(v.safeParse(AskRequest, { prompt: "x", skill: run(unit) }).success).toBe(false);
      expect(v.safeParse(PublishKeyRequest, { kid: run(unit), public_key_pem: "x" }).success).toBe(false);
      expect(
        v.safeParse(UsageReport, { tokens_in: 1, tokens_out: 1, provider: run(unit), model: run(unit, " ") }).success,
      ).toBe(false);
      expect(v.safeParse(IdempotencyKey, run(unit, " ")).success).toBe(false);
      expect(v.safeParse(UsageQuery, { from: run(unit), to: run(unit) }).success).toBe(false);
    }
  });

  it("App Graph names, ids and collection paths", () => {
    for (const unit of ["a", "A", "a-", "aA", "-a", "1"]) {
      const hostile = run(unit);
      const graph = {
        version: 1,
        name: "x",
        entities: [{ name: `A${hostile}`, fields: [{ name: `a${hostile}`, type: "string" }] }],
        screens: [{ id: `a${hostile}`, title: "t" }],
      };
      expect(v.safeParse(AppGraph, graph).success).toBe(false);
      expect(entityCollection(`A${hostile}`).length).toBeGreaterThan(KB100);
    }
  });

  it("credit amounts", () => {
    for (const hostile of [run("1"), `1.${run("1")}`, `-${run("1", ".")}`])
      expect(creditsToMicro(hostile)).toBeUndefined();
  });
});
