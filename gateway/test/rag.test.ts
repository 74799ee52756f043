import { describe, expect, it } from "vitest";
import { ADMIN_KEY, as, expectProblem, gateway, guestToken } from "./helpers";

describe("retrieval through the gateway", () => {
  it("ingests, queries, lists and deletes the caller's documents", async () => {
    const { token } = await guestToken();
    const ingested = await as(token, "/api/rag/ingest", {
      method: "POST",
      body: JSON.stringify({ id: "garden", title: "Garden", text: "# Tomatoes\n\nWater tomato plants twice a week." }),
    });
    expect(ingested.status).toBe(200);
    expect(await ingested.json()).toMatchObject({ id: "garden", chunks: 1, embedded: false });
    await as(token, "/api/rag/ingest", {
      method: "POST",
      body: JSON.stringify({ id: "kitchen", text: "Boil the pasta in salted water." }),
    });

    const query = await as(token, "/api/rag/query", {
      method: "POST",
      body: JSON.stringify({ query: "watering tomatoes", k: 2 }),
    });
    const { results, mode } = (await query.json()) as {
      results: { doc_id: string; chunk_id: string; snippet: string; score: number }[];
      mode: string;
    };
    expect(mode).toBe("bm25");
    expect(results[0]).toMatchObject({ doc_id: "garden", chunk_id: "garden#0" });

    const docs = (await (await as(token, "/api/rag/docs")).json()) as { docs: { id: string }[] };
    expect(docs.docs.map((d) => d.id).sort()).toEqual(["garden", "kitchen"]);
    expect(await (await as(token, "/api/rag/docs/kitchen", { method: "DELETE" })).json()).toEqual({
      deleted: "kitchen",
    });
    await expectProblem(await as(token, "/api/rag/docs/kitchen", { method: "DELETE" }), 404, "not_found");

    const other = await guestToken();
    expect(
      (
        (await (
          await as(other.token, "/api/rag/query", { method: "POST", body: JSON.stringify({ query: "tomatoes" }) })
        ).json()) as { results: unknown[] }
      ).results,
    ).toEqual([]);
  });

  it("runs a large ingest as a rag.ingest job", async () => {
    const { token } = await guestToken();
    const text = `# Manual\n\n${"The warp core runs on dilithium crystals. ".repeat(3000)}`;
    const response = await as(token, "/api/rag/ingest", {
      method: "POST",
      body: JSON.stringify({ id: "manual", text }),
    });
    // Bigger than MAX_JSON_BYTES in this test config: the gateway refuses it before anything else.
    expect(response.status).toBe(413);
    // An upload of the same text goes through R2 and is ingested in the background.
    const upload = await gateway("/api/upload/direct", {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "text/markdown" },
      body: text,
    });
    const { key } = (await upload.json()) as { key: string };
    const queued = await as(token, "/api/rag/ingest", {
      method: "POST",
      body: JSON.stringify({ id: "manual", upload_key: key }),
    });
    expect(queued.status).toBe(202);
    const { job } = (await queued.json()) as { job: { id: string; kind: string } };
    expect(job.kind).toBe("rag.ingest");
    await gateway("/api/jobs/run", { method: "POST", headers: { "X-Admin-Key": ADMIN_KEY } });
    expect(((await (await as(token, `/api/jobs/${job.id}`)).json()) as { status: string }).status).toBe("succeeded");
    const found = (await (
      await as(token, "/api/rag/query", { method: "POST", body: JSON.stringify({ query: "dilithium", k: 1 }) })
    ).json()) as { results: { doc_id: string }[] };
    expect(found.results[0]?.doc_id).toBe("manual");
  });

  it("grounds an ask on the caller's documents with citations", async () => {
    const { token } = await guestToken();
    await as(token, "/api/rag/ingest", {
      method: "POST",
      body: JSON.stringify({ id: "faq", text: "Refunds are issued within five days." }),
    });
    const answer = (await (
      await as(token, "/api/si/ask", {
        method: "POST",
        body: JSON.stringify({ prompt: "When are refunds issued?", model: "groq/gpt-oss-20b", rag: { k: 1 } }),
      })
    ).json()) as { sources: { chunk_id: string }[] };
    expect(answer.sources).toEqual([expect.objectContaining({ chunk_id: "faq#0" })]);
  });

  it("403s quota_exceeded past the tenant's documents, inline and in a rag.ingest job", async () => {
    const { token } = await guestToken();
    const ingest = (id: string, text: string) =>
      as(token, "/api/rag/ingest", { method: "POST", body: JSON.stringify({ id, text }) });
    for (const id of ["a", "b", "c"]) expect((await ingest(id, `document ${id}`)).status).toBe(200);
    const over = await expectProblem(await ingest("d", "document d"), 403, "quota_exceeded");
    expect(over).toMatchObject({ quota: "rag_docs", limit: 3, used: 3, requested: 1 });
    // Re-ingesting a document replaces it: no new place is taken.
    expect((await ingest("a", "document a, revised")).status).toBe(200);
    // A large ingest runs as a job, and its job fails on the quota at once, without retrying.
    const upload = await gateway("/api/upload/direct", {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "text/markdown" },
      body: "The deflector dish. ".repeat(6000),
    });
    const { key } = (await upload.json()) as { key: string };
    const queued = await as(token, "/api/rag/ingest", {
      method: "POST",
      body: JSON.stringify({ id: "manual", upload_key: key }),
    });
    const { job } = (await queued.json()) as { job: { id: string } };
    await gateway("/api/jobs/run", { method: "POST", headers: { "X-Admin-Key": ADMIN_KEY } });
    const ran = (await (await as(token, `/api/jobs/${job.id}`)).json()) as { status: string; last_error: string };
    expect(ran).toMatchObject({ status: "failed", last_error: expect.stringContaining("quota_exceeded") });
    // Deleting a document frees its place.
    await as(token, "/api/rag/docs/b", { method: "DELETE" });
    expect((await ingest("d", "document d")).status).toBe(200);
    const docs = (await (await as(token, "/api/rag/docs")).json()) as { docs: { id: string }[] };
    expect(docs.docs.map((d) => d.id).sort()).toEqual(["a", "c", "d"]);
  });

  it("refuses bad input", async () => {
    const { token } = await guestToken();
    await expectProblem(
      await as(token, "/api/rag/ingest", { method: "POST", body: JSON.stringify({ id: "x", text: "" }) }),
      400,
      "invalid_input",
    );
    await expectProblem(
      await as(token, "/api/rag/ingest", {
        method: "POST",
        body: JSON.stringify({ id: "x", upload_key: "uploads/nope" }),
      }),
      404,
      "not_found",
    );
    await expectProblem(
      await as(token, "/api/rag/query", { method: "POST", body: JSON.stringify({ query: "" }) }),
      400,
      "invalid_input",
    );
    await expectProblem(await gateway("/api/rag/query", { method: "POST", body: "{}" }), 401, "unauthenticated");
  });
});
