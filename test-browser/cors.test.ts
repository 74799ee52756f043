// CORS as a browser enforces it, not as a test reads headers: headless Chromium (Debian's
// `chromium`, driven by playwright-core, nothing downloaded) loads a page from an allowed origin
// and one from a disallowed origin and calls the real mesh from each.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CORS_EXPOSE_HEADERS } from "../gateway/src/http/cors";
import {
  FIRST_DELTA,
  type LoopbackProvider,
  type Mesh,
  REST_DELTA,
  startLoopbackProvider,
  startMesh,
  startPageServer,
} from "./mesh";

/** The browser binary: `CHROMIUM_PATH`, else `chromium` or `chromium-browser` on PATH. */
function findChromium(): string | undefined {
  const named = process.env.CHROMIUM_PATH;
  if (named && existsSync(named)) return named;
  for (const name of ["chromium", "chromium-browser"]) {
    const found = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).stdout.trim();
    if (found) return found;
  }
  return undefined;
}

const executablePath = findChromium();
if (!executablePath && process.env.REQUIRE_BROWSER === "1") {
  throw new Error("REQUIRE_BROWSER=1 but no Chromium was found (install Debian's `chromium` or set CHROMIUM_PATH)");
}
if (!executablePath) {
  console.log(
    "browser CORS test skipped: no Chromium found (install Debian's `chromium`, or set CHROMIUM_PATH); .ci/run installs it",
  );
}

/** What a page's `fetch` saw: status, the JSON or text body, and the headers it could read. */
interface PageAnswer {
  ok: true;
  status: number;
  body: unknown;
  headers: Record<string, string | null>;
}
interface PageFailure {
  ok: false;
  error: string;
}

const exposed = CORS_EXPOSE_HEADERS.split(",").map((name) => name.trim());

/** Runs one `fetch` in the page and reports what the page itself could read of the answer. */
function pageFetch(page: Page, url: string, init: RequestInit): Promise<PageAnswer | PageFailure> {
  return page.evaluate(
    async ({ url, init, names }) => {
      try {
        const response = await fetch(url, init);
        const text = await response.text();
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {}
        const headers: Record<string, string | null> = {};
        for (const name of names) headers[name] = response.headers.get(name);
        return { ok: true as const, status: response.status, body, headers };
      } catch (error) {
        return { ok: false as const, error: String(error) };
      }
    },
    { url, init, names: exposed },
  );
}

describe.skipIf(!executablePath)("CORS in headless Chromium against the real mesh", () => {
  let browser: Browser;
  let provider: LoopbackProvider;
  let mesh: Mesh;
  let allowedPage: Page;
  let deniedPage: Page;
  const closers: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    const allowed = await startPageServer();
    const denied = await startPageServer();
    closers.push(allowed.close, denied.close);
    provider = await startLoopbackProvider();
    closers.push(provider.close);
    mesh = await startMesh(allowed.origin, provider.url);
    closers.push(mesh.dispose);
    // Root may run this (CI containers): Chromium's sandbox needs a user namespace it may not have.
    browser = await chromium.launch({ executablePath, headless: true, args: ["--no-sandbox"] });
    closers.push(() => browser.close());
    allowedPage = await browser.newPage();
    await allowedPage.goto(`${allowed.origin}/`);
    deniedPage = await browser.newPage();
    await deniedPage.goto(`${denied.origin}/`);
  });

  afterAll(async () => {
    for (const close of closers.reverse()) await close().catch(() => {});
  });

  async function guestToken(page: Page): Promise<string> {
    const answer = await pageFetch(page, `${mesh.gateway}/auth/guest`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: "{}",
    });
    if (!answer.ok) throw new Error(`guest token: ${answer.error}`);
    expect(answer.status).toBe(200);
    return (answer.body as { token: string }).token;
  }

  it("lets an allowed page read the JSON and every exposed header the gateway sent", async () => {
    const token = await guestToken(allowedPage);
    const init = { headers: { Authorization: `Bearer ${token}` } };
    // What the gateway sends, read outside any browser, is what the page must be able to read.
    const direct = await fetch(`${mesh.gateway}/api/credits`, init);
    const sent = exposed.filter((name) => direct.headers.has(name));
    expect(sent).toEqual(
      expect.arrayContaining(["X-Request-Id", "X-Credits-Balance", "X-Limit-Requests-Remaining", "RateLimit"]),
    );

    const answer = await pageFetch(allowedPage, `${mesh.gateway}/api/credits`, init);
    expect(answer.ok, JSON.stringify(answer)).toBe(true);
    if (!answer.ok) return;
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ balance: expect.any(Number) });
    for (const name of sent) expect(answer.headers[name], name).not.toBeNull();
    expect(answer.headers["X-Request-Id"]).not.toBe(direct.headers.get("X-Request-Id"));
  });

  it("lets an allowed page make a preflighted POST with Authorization and read its billing headers", async () => {
    const token = await guestToken(allowedPage);
    const answer = await pageFetch(allowedPage, `${mesh.gateway}/api/si/ask`, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: JSON.stringify({ prompt: "Say something.", model: "groq/gpt-oss-20b", max_tokens: 16 }),
    });
    expect(answer.ok, JSON.stringify(answer)).toBe(true);
    if (!answer.ok) return;
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ output: FIRST_DELTA + REST_DELTA });
    expect(Number(answer.headers["X-Credits-Used"])).toBeGreaterThan(0);
    expect(answer.headers["X-Credits-Balance"]).not.toBeNull();
    expect(answer.headers["X-Provider"]).toBe("groq");
  });

  it("blocks a disallowed page's fetch, simple and preflighted", async () => {
    const simple = await pageFetch(deniedPage, `${mesh.gateway}/ready`, {});
    expect(simple).toMatchObject({ ok: false, error: expect.stringContaining("TypeError") });
    const preflighted = await pageFetch(deniedPage, `${mesh.gateway}/auth/guest`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: "{}",
    });
    expect(preflighted).toMatchObject({ ok: false, error: expect.stringContaining("TypeError") });
    // The same request from the allowed page goes through: the block is the origin, not the route.
    const allowed = await pageFetch(allowedPage, `${mesh.gateway}/ready`, {});
    expect(allowed).toMatchObject({ ok: true, status: 200 });
  });

  it("lets an allowed page read a streamed ask incrementally", async () => {
    const token = await guestToken(allowedPage);
    provider.hold();
    // The provider holds the rest of the answer until the page says it has read the first delta,
    // so the page can only finish if it reads the stream before it ends.
    await allowedPage.exposeFunction("releaseRest", () => provider.release());
    const reads = await allowedPage.evaluate(
      async ({ url, token, first }) => {
        const response = await fetch(url, {
          method: "POST",
          headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
          body: JSON.stringify({ prompt: "Stream something.", model: "groq/gpt-oss-20b", stream: true }),
        });
        const reader = (response.body as ReadableStream<Uint8Array>).getReader();
        const decoder = new TextDecoder();
        const seen: { text: string; released: boolean }[] = [];
        let text = "";
        let released = false;
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          text += decoder.decode(value, { stream: true });
          seen.push({ text, released });
          if (!released && text.includes(first)) {
            released = true;
            await (globalThis as unknown as { releaseRest: () => Promise<void> }).releaseRest();
          }
        }
        return { type: response.headers.get("Content-Type"), seen, text };
      },
      { url: `${mesh.gateway}/api/si/ask`, token, first: FIRST_DELTA },
    );
    expect(reads.type).toContain("text/event-stream");
    const beforeRelease = reads.seen.filter((read) => !read.released);
    expect(beforeRelease.some((read) => read.text.includes(FIRST_DELTA))).toBe(true);
    expect(beforeRelease.some((read) => read.text.includes(REST_DELTA))).toBe(false);
    expect(reads.text).toContain(REST_DELTA);
    expect(reads.text).toContain("event: done");
  });
});
