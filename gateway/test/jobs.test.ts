import { describe, expect, it } from "vitest";
import { ADMIN_KEY, as, expectProblem, gateway, guestToken } from "./helpers";

const admin = { "X-Admin-Key": ADMIN_KEY };

describe("jobs through the gateway", () => {
  it("creates an async ask, runs it as an admin, and shows the billed result to its owner only", async () => {
    const { token } = await guestToken();
    const created = await as(token, "/api/jobs", {
      method: "POST",
      body: JSON.stringify({ kind: "si.ask", input: { prompt: "queued hello", max_tokens: 16 } }),
    });
    expect(created.status).toBe(201);
    const job = (await created.json()) as { id: string; status: string };
    expect(job.status).toBe("pending");

    const run = await gateway("/api/jobs/run", { method: "POST", headers: admin });
    expect(run.status).toBe(200);
    const ran = ((await run.json()) as { ran: { id: string; outcome: string }[] }).ran;
    expect(ran.find((r) => r.id === job.id)?.outcome).toBe("succeeded");

    const done = (await (await as(token, `/api/jobs/${job.id}`)).json()) as {
      status: string;
      result: { output: string; credits_used: number };
    };
    expect(done).toMatchObject({ status: "succeeded", result: { output: "Echo: queued hello" } });
    const credits = (await (await as(token, "/api/credits")).json()) as { balance: number };
    expect(credits.balance).toBe(5 - done.result.credits_used);

    const stranger = await guestToken();
    await expectProblem(await as(stranger.token, `/api/jobs/${job.id}`), 404, "not_found");
    expect(((await (await as(stranger.token, "/api/jobs")).json()) as { jobs: unknown[] }).jobs).toEqual([]);
    expect(
      ((await (await as(token, "/api/jobs?status=succeeded")).json()) as { jobs: { id: string }[] }).jobs.map(
        (j) => j.id,
      ),
    ).toEqual([job.id]);
  });

  it("replays an Idempotency-Key with 200 and cancels with PATCH", async () => {
    const { token } = await guestToken();
    const body = JSON.stringify({
      kind: "si.ask",
      input: { prompt: "later" },
      run_at: new Date(Date.now() + 3_600_000).toISOString(),
    });
    const first = await as(token, "/api/jobs", { method: "POST", headers: { "Idempotency-Key": "job-1" }, body });
    const again = await as(token, "/api/jobs", { method: "POST", headers: { "Idempotency-Key": "job-1" }, body });
    expect([first.status, again.status]).toEqual([201, 200]);
    const job = (await first.json()) as { id: string };
    expect(((await again.json()) as { id: string }).id).toBe(job.id);
    const cancelled = await as(token, `/api/jobs/${job.id}`, {
      method: "PATCH",
      body: JSON.stringify({ action: "cancel" }),
    });
    expect(((await cancelled.json()) as { status: string }).status).toBe("cancelled");
    await expectProblem(
      await as(token, `/api/jobs/${job.id}`, { method: "PATCH", body: JSON.stringify({ action: "cancel" }) }),
      409,
      "conflict",
    );
  });

  it("lists jobs without input or result, clamps a past run_at, and answers 429 over JOBS_MAX_PENDING", async () => {
    // JOBS_MAX_PENDING is 3 in this test config (vitest.config.ts).
    const { token } = await guestToken();
    const create = (prompt: string, extra: Record<string, unknown> = {}) =>
      as(token, "/api/jobs", {
        method: "POST",
        body: JSON.stringify({ kind: "si.ask", input: { prompt }, run_at: "1970-01-01T00:00:00Z", ...extra }),
      });
    const before = Date.now();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const response = await create(`queued ${i}`);
      expect(response.status).toBe(201);
      const job = (await response.json()) as { id: string; run_at: string };
      expect(Date.parse(job.run_at)).toBeGreaterThanOrEqual(before);
      ids.push(job.id);
    }
    const over = await create("one too many");
    expect(Number(over.headers.get("Retry-After"))).toBeGreaterThanOrEqual(60);
    expect(await expectProblem(over, 429, "rate_limited")).toMatchObject({ limit: 3 });

    const listed = (await (await as(token, "/api/jobs")).json()) as { jobs: Record<string, unknown>[] };
    expect(listed.jobs.map((j) => j.id)).toEqual([...ids].reverse());
    for (const job of listed.jobs) {
      expect(Object.keys(job).sort()).toEqual(
        ["attempts", "created_at", "id", "kind", "max_attempts", "run_at", "status", "updated_at"].sort(),
      );
    }
    const full = (await (await as(token, `/api/jobs/${ids[0]}`)).json()) as { input: unknown; history: unknown[] };
    expect(full.input).toEqual({ prompt: "queued 0" });
    expect(full.history).toHaveLength(1);
  });

  it("refuses bad input on every route", async () => {
    const { token } = await guestToken();
    await expectProblem(
      await as(token, "/api/jobs", { method: "POST", body: JSON.stringify({ kind: "nope.kind" }) }),
      400,
      "invalid_input",
    );
    await expectProblem(
      await as(token, "/api/jobs", {
        method: "POST",
        body: JSON.stringify({ kind: "si.ask", input: { prompt: "x", stream: true } }),
      }),
      400,
      "invalid_input",
    );
    await expectProblem(await as(token, "/api/jobs", { method: "POST", body: "{" }), 400, "malformed_json");
    await expectProblem(await as(token, "/api/jobs?status=bogus"), 400, "invalid_input");
    await expectProblem(await as(token, "/api/jobs?limit=0"), 400, "invalid_input");
    await expectProblem(await as(token, "/api/jobs/00000000000000000000000000000000"), 404, "not_found");
    await expectProblem(await as(token, "/api/jobs/%ZZ"), 400, "invalid_input");
    await expectProblem(
      await as(token, "/api/jobs", {
        method: "POST",
        body: JSON.stringify({ kind: "si.ask", input: { prompt: "x" }, run_at: "2024-01-01T00:00:00.5+01" }),
      }),
      400,
      "invalid_input",
    );
    const { id } = (await (
      await as(token, "/api/jobs", { method: "POST", body: JSON.stringify({ kind: "si.ask", input: { prompt: "x" } }) })
    ).json()) as { id: string };
    await expectProblem(
      await as(token, `/api/jobs/${id}`, { method: "PATCH", body: JSON.stringify({ action: "explode" }) }),
      400,
      "invalid_input",
    );
    await expectProblem(
      await as(token, `/api/jobs/${id}`, { method: "PATCH", body: JSON.stringify({ input: { prompt: "" } }) }),
      400,
      "invalid_input",
    );
    await expectProblem(await gateway("/api/jobs", { method: "POST", body: "{}" }), 401, "unauthenticated");
    await expectProblem(await as(token, "/api/jobs/run", { method: "POST" }), 401, "unauthenticated");
    await expectProblem(
      await gateway("/api/admin/cleanup", { method: "POST", headers: { "X-Admin-Key": "wrong" } }),
      403,
      "forbidden",
    );
  });

  it("cleans up for an admin and reports counts", async () => {
    const response = await gateway("/api/admin/cleanup", { method: "POST", headers: admin });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      jobs_deleted: expect.any(Number),
      due_keys_deleted: expect.any(Number),
      usage_events_deleted: expect.any(Number),
      complete: true,
    });
  });
});
