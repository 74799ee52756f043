// The contract fuzzer: requests drawn from the OpenAPI document (valid and broken in every way the
// schemas allow) against the real gateway → RPC → services → storage, with the AI providers the
// project's loopback fakes (gateway/vitest.config.ts). See docs/architecture.md for replaying a run.

import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, inject, it, vi } from "vitest";
import worker from "../../src/index";
import { ADMIN_KEY, as, BASE, gateway } from "../helpers";
import { documentOperations } from "./operations";
import { answerViolations } from "./properties";
import { type FuzzRequest, requestArbitrary } from "./requests";
import { buildWorld, FUZZ_FLAG, victimState } from "./world";

declare module "vitest" {
  interface ProvidedContext {
    fuzz: { seed: string; runs: string; only: string };
  }
}

const settings = inject("fuzz");
const SEED = settings.seed === "" ? 20_261_201 : Number(settings.seed);
// A few of the drawn requests can't be built (a GET with a body) and are never sent: 10,600 drawn
// sends at least 10,000.
const RUNS = settings.runs === "" ? 10_600 : Number(settings.runs);
/** Requests in flight at once: enough to keep the workers busy, few enough to keep answers ordered. */
const IN_FLIGHT = 8;
const admin = { "X-Admin-Key": ADMIN_KEY };

/**
 * The gateway's handler, called as workerd calls it, with its own execution context whose
 * `waitUntil` work is awaited. Not through the pool's `exports.default`: every call through that
 * loopback leaves something behind in this isolate, so a run of thousands slowed down
 * quadratically (0.5 ms a request for the first hundred, 100 ms by the sixth).
 */
async function send(request: Request): Promise<Response> {
  const ctx = createExecutionContext();
  const response = await worker.fetch(request as Request<unknown, IncomingRequestCfProperties>, env, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

function toRequest(drawn: FuzzRequest): Request {
  const headers = new Headers();
  for (const [name, value] of drawn.headers) headers.append(name, value);
  let body: BodyInit | undefined;
  switch (drawn.body?.kind) {
    case "text":
      body = drawn.body.text;
      break;
    case "bytes":
      body = drawn.body.bytes;
      break;
    case "stream": {
      // A body of unknown length (no Content-Length), as a chunked upload sends it.
      const bytes = drawn.body.bytes;
      body = new ReadableStream({
        start(controller) {
          controller.enqueue(bytes);
          controller.close();
        },
      });
      break;
    }
    case "form": {
      const form = new FormData();
      for (const [name, value] of drawn.body.fields)
        if (typeof value === "string") form.append(name, value);
        else form.append(name, new Blob([value], { type: "audio/wav" }), "a.wav");
      body = form;
      break;
    }
  }
  return new Request(`${BASE}${drawn.target}`, { method: drawn.method, headers, ...(body ? { body } : {}) });
}

function describeRequest(drawn: FuzzRequest): string {
  const body = drawn.body?.kind === "text" ? drawn.body.text.slice(0, 200) : (drawn.body?.kind ?? "none");
  const headers = drawn.headers.map(([name, value]) => `${name}: ${value.slice(0, 60)}`).join(" | ");
  return `${drawn.method} ${drawn.target.slice(0, 200)} [${drawn.shape}] {${headers}} ${body}`;
}

/** Flags the fuzz created: deleted afterwards so the project's other files see the registry they expect. */
async function flagKeys(): Promise<Set<string>> {
  const listed = (await (await gateway("/api/admin/flags", { headers: admin })).json()) as {
    flags: { flag: { key: string } }[];
  };
  return new Set(listed.flags.map((record) => record.flag.key));
}

async function restoreSharedState(before: Set<string>): Promise<void> {
  for (const key of await flagKeys()) {
    if (before.has(key) && key !== FUZZ_FLAG) continue;
    const current = await gateway(`/api/admin/flags/${encodeURIComponent(key)}`, { headers: admin });
    const etag = current.headers.get("ETag") ?? "";
    await current.body?.cancel();
    await gateway(`/api/admin/flags/${encodeURIComponent(key)}`, {
      method: "DELETE",
      headers: { ...admin, "If-Match": etag },
    });
  }
  await gateway("/api/admin/catalog", { method: "DELETE", headers: admin });
  await gateway("/api/admin/voice-catalog", { method: "DELETE", headers: admin });
}

describe("the contract fuzzer", () => {
  it(`keeps every property across ${RUNS} requests drawn from the OpenAPI document (seed ${SEED})`, {
    // Sized to the run: a loaded 2-core machine answers a few dozen fuzzed requests a second.
    timeout: 120_000 + RUNS * 300,
  }, async () => {
    const started = Date.now();
    const flagsBefore = await flagKeys();
    const { world, victim } = await buildWorld();
    const before = await victimState(victim.token);

    // Each operation's requests depend only on the seed, FUZZ_RUNS and its place in the whole
    // document, so a replay with FUZZ_ONLY draws the same requests for the operations it names.
    const everyOperation = documentOperations();
    const share = Math.ceil(RUNS / everyOperation.length);
    const chosen = everyOperation
      .map((operation, index) => ({ operation, seed: SEED + index }))
      .filter(({ operation }) => settings.only === "" || operation.name.includes(settings.only));
    if (chosen.length === 0)
      throw new Error(`FUZZ_ONLY=${settings.only} names no operation; names look like "post /api/upload/direct"`);
    const operations = chosen.map(({ operation }) => operation);
    const plans = chosen.map(({ operation, seed }) =>
      fc.sample(requestArbitrary(operation, world), { seed, numRuns: share }),
    );
    const queue: FuzzRequest[] = [];
    for (let round = 0; round < share; round++)
      for (const plan of plans) if (plan[round]) queue.push(plan[round] as FuzzRequest);

    const fired = Date.now();
    // Kept before the gateway's own logging is silenced below, for a line per thousand requests.
    const progress = console.log.bind(console);
    const counts = new Map<string, number>();
    const statuses = new Map<string, number>();
    const failures: string[] = [];
    const unsendable = new Map<string, number>();
    let next = 0;
    const fire = async () => {
      while (next < queue.length) {
        const index = next++;
        const drawn = queue[index] as FuzzRequest;
        if (index > 0 && index % 1_000 === 0)
          progress(`fuzz: ${index} of ${queue.length} sent, ${((Date.now() - fired) / 1000).toFixed(1)} s`);
        let request: Request;
        try {
          request = toRequest(drawn);
        } catch (error) {
          // A request fetch itself refuses to build (e.g. a header value it rejects) never reaches a server.
          const reason = (error as Error).message.slice(0, 80);
          unsendable.set(reason, (unsendable.get(reason) ?? 0) + 1);
          continue;
        }
        const response = await send(request.clone());
        const found = await answerViolations(request, response);
        counts.set(drawn.operation, (counts.get(drawn.operation) ?? 0) + 1);
        statuses.set(String(response.status), (statuses.get(String(response.status)) ?? 0) + 1);
        for (const violation of found)
          failures.push(`#${index} ${drawn.operation}: ${violation}\n    ${describeRequest(drawn)}`);
      }
    };
    // The gateway runs in this isolate and logs a line per request; thousands of them would bury the report.
    const quiet = (["log", "info", "warn", "error"] as const).map((level) =>
      vi.spyOn(console, level).mockImplementation(() => undefined),
    );
    try {
      await Promise.all(Array.from({ length: IN_FLIGHT }, fire));
    } finally {
      for (const spy of quiet) spy.mockRestore();
    }

    const after = await victimState(victim.token);
    const own = (await (await as(world.token, "/api/credits")).json()) as { balance: number };
    await restoreSharedState(flagsBefore);
    const total = [...counts.values()].reduce((sum, count) => sum + count, 0);
    console.log(
      [
        `fuzz: seed ${SEED} (FUZZ_SEED=${SEED} FUZZ_RUNS=${RUNS} replays it), ${total} requests over ${counts.size} of ${operations.length} operations in ${((Date.now() - started) / 1000).toFixed(1)} s; ${[...unsendable.values()].reduce((sum, count) => sum + count, 0)} unsendable`,
        `fuzz: setup and draw ${((fired - started) / 1000).toFixed(1)} s; unsendable: ${JSON.stringify([...unsendable])}`,
        `fuzz: statuses ${[...statuses]
          .sort()
          .map(([status, count]) => `${status}×${count}`)
          .join(" ")}`,
        ...operations.map((operation) => `  ${String(counts.get(operation.name) ?? 0).padStart(5)} ${operation.name}`),
      ].join("\n"),
    );
    expect(failures.slice(0, 30), `${failures.length} violations (seed ${SEED})`).toEqual([]);
    expect(counts.size, "every operation was fuzzed").toBe(operations.length);
    // A replay of some operations (FUZZ_ONLY) sends what it sends; a whole run sends nearly all it drew.
    if (settings.only === "") expect(total).toBeGreaterThanOrEqual(settings.runs === "" ? 10_000 : RUNS * 0.9);
    expect(after, "the victim's state is as it was").toEqual(before);
    expect(own.balance).toBeGreaterThanOrEqual(0);
    expect((before.credits as { balance: number }).balance).toBeGreaterThanOrEqual(0);
  });
});
