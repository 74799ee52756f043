import { IDEMPOTENCY_KEY_MAX_CHARS } from "@cognomega/shared";
import { describe, expect, it } from "vitest";
import { testWav } from "../../test-support/fake-cartesia";
import { ADMIN_KEY, as, expectProblem, gateway, guestToken } from "./helpers";

// One rule for every route that takes an Idempotency-Key: 1-255 visible ASCII characters. A bad key
// is the same 400, naming the header, whichever route family it is sent to, and nothing runs.
const BAD_KEYS = ["has space", "k".repeat(IDEMPOTENCY_KEY_MAX_CHARS + 1), "tab\there", "caf\u00e9"];

interface Family {
  name: string;
  send: (token: string, key: string) => Promise<Response>;
}

const json = (body: unknown) => JSON.stringify(body);

const FAMILIES: Family[] = [
  {
    name: "SI asks",
    send: (token, key) =>
      as(token, "/api/si/ask", { method: "POST", headers: { "Idempotency-Key": key }, body: json({ prompt: "x" }) }),
  },
  {
    name: "voice loops",
    send: (token, key) =>
      as(token, "/api/voice/ask", {
        method: "POST",
        headers: { "Idempotency-Key": key, "Content-Type": "audio/wav" },
        body: testWav(0.1),
      }),
  },
  {
    name: "scaffold graphs",
    send: (token, key) =>
      as(token, "/api/scaffold/graph", {
        method: "POST",
        headers: { "Idempotency-Key": key },
        body: json({ prompt: "a todo app" }),
      }),
  },
  {
    name: "scaffold jobs",
    send: (token, key) =>
      as(token, "/api/scaffold", {
        method: "POST",
        headers: { "Idempotency-Key": key },
        body: json({ prompt: "a todo app" }),
      }),
  },
  {
    name: "jobs",
    send: (token, key) =>
      as(token, "/api/jobs", {
        method: "POST",
        headers: { "Idempotency-Key": key },
        body: json({ kind: "si.ask", input: { prompt: "x" } }),
      }),
  },
  {
    name: "RAG ingests",
    send: (token, key) =>
      as(token, "/api/rag/ingest", {
        method: "POST",
        headers: { "Idempotency-Key": key },
        body: json({ id: "doc", text: "some text" }),
      }),
  },
  {
    name: "usage reports",
    send: (token, key) =>
      as(token, "/api/billing/usage", {
        method: "POST",
        headers: { "Idempotency-Key": key },
        body: json({ tokens_in: 1, tokens_out: 1, provider: "groq", model: "m" }),
      }),
  },
  {
    name: "credit adjustments",
    send: (_token, key) =>
      gateway("/api/credits/adjust", {
        method: "POST",
        headers: { "X-Admin-Key": ADMIN_KEY, "Content-Type": "application/json", "Idempotency-Key": key },
        body: json({ account: "guest:nobody", delta: 1, reason: "test" }),
      }),
  },
];

describe("a malformed Idempotency-Key", () => {
  it("is the same 400 invalid_input, naming the header, on every route family", async () => {
    const { token } = await guestToken();
    const answers = new Set<string>();
    for (const family of FAMILIES) {
      for (const key of BAD_KEYS) {
        const body = await expectProblem(await family.send(token, key), 400, "invalid_input");
        expect({ family: family.name, issues: body.issues }).toEqual({
          family: family.name,
          issues: [{ path: "Idempotency-Key", message: "must be 1-255 visible ASCII characters" }],
        });
        answers.add(String(body.detail));
      }
    }
    expect([...answers]).toEqual(["Idempotency-Key must be 1-255 visible ASCII characters"]);
    // Nothing ran: no job was queued and nothing was charged.
    const jobs = (await (await as(token, "/api/jobs")).json()) as { jobs: unknown[] };
    expect(jobs.jobs).toEqual([]);
    const credits = (await (await as(token, "/api/credits")).json()) as { balance: number };
    expect(credits.balance).toBe(5);
  });

  it("of the longest length allowed is taken by every route that passes it on in a scope", async () => {
    const { token } = await guestToken();
    const key = "k".repeat(IDEMPOTENCY_KEY_MAX_CHARS);
    const asked = await FAMILIES[0]?.send(token, key);
    expect(asked?.status).toBe(200);
  });
});
