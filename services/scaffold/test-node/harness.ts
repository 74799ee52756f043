// Runs a rendered project the way its own build would: written to disk, bundled by
// `wrangler deploy --dry-run`, served by workerd (Miniflare) with the bindings of its own
// wrangler.jsonc, its pages as static assets, and its migration applied to a local D1.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { AppGraph } from "@cognomega/shared";
import { Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions, unstable_splitSqlQuery } from "wrangler";
import { renderProject } from "../src/render";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..", "..");
/** Ignored by git and Biome; inside the repository so the rendered tests resolve `vitest` from its node_modules. */
export const GENERATED = join(here, "..", ".generated");

/** One answer of the app, its body parsed when it is JSON. */
export interface Answer {
  status: number;
  type: string | null;
  // biome-ignore lint/suspicious/noExplicitAny: a JSON answer of whichever entity the test drives
  body: any;
  text: string;
  headers: Headers;
}

/** A rendered project running in workerd. */
export interface RunningApp {
  dir: string;
  send(method: string, path: string, body?: unknown): Promise<Answer>;
  /** Sends `text` as the body, labelled JSON, as it is (for malformed bodies). */
  sendRaw(method: string, path: string, text: string): Promise<Answer>;
  page(path: string): Promise<{ status: number; type: string | null; text: string }>;
  dispose(): Promise<void>;
}

/** Writes the rendered files of `graph` into `.generated/<name>` (replacing what was there). */
export function writeProject(name: string, graph: AppGraph): string {
  const dir = join(GENERATED, name);
  rmSync(dir, { recursive: true, force: true });
  for (const file of renderProject(graph).files) {
    const path = join(dir, file.path);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, file.content);
  }
  return dir;
}

function bundle(dir: string): string {
  const outdir = join(dir, "dist");
  const result = spawnSync(
    join(root, "node_modules", ".bin", "wrangler"),
    ["deploy", "--dry-run", "--outdir", outdir, "-c", join(dir, "wrangler.jsonc")],
    { cwd: dir, encoding: "utf8", env: { ...process.env, WRANGLER_SEND_METRICS: "false" } },
  );
  if (result.status !== 0) throw new Error(`wrangler deploy --dry-run failed:\n${result.stdout}${result.stderr}`);
  return outdir;
}

/** Renders, bundles and starts the app, with its migration applied. */
export async function startApp(name: string, graph: AppGraph): Promise<RunningApp> {
  const dir = writeProject(name, graph);
  const outdir = bundle(dir);
  const { workerOptions } = unstable_getMiniflareWorkerOptions(join(dir, "wrangler.jsonc"));
  const mf = new Miniflare({
    ...workerOptions,
    name,
    modules: true,
    scriptPath: join(outdir, "index.js"),
    modulesRoot: outdir,
    d1Persist: false,
  } as ConstructorParameters<typeof Miniflare>[0]);
  const db = await mf.getD1Database("DB");
  const statements = unstable_splitSqlQuery(readFileSync(join(dir, "migrations", "0001_init.sql"), "utf8"));
  await db.batch(statements.map((sql) => db.prepare(sql)));

  const fetchApp = async (method: string, path: string, body?: unknown, raw?: string) => {
    const init: { method: string; body?: string; headers?: Record<string, string>; redirect: "manual" } = {
      method,
      redirect: "manual",
    };
    if (body !== undefined || raw !== undefined) {
      init.body = raw ?? JSON.stringify(body);
      init.headers = { "content-type": "application/json" };
    }
    return (await mf.dispatchFetch(`http://app.test${path}`, init)) as unknown as Response;
  };
  const answer = async (response: Response): Promise<Answer> => {
    const text = await response.text();
    const type = response.headers.get("content-type");
    const body = text && type?.includes("json") ? JSON.parse(text) : null;
    return { status: response.status, type, text, headers: response.headers, body };
  };
  return {
    dir,
    send: async (method, path, body) => answer(await fetchApp(method, path, body)),
    sendRaw: async (method, path, text) => answer(await fetchApp(method, path, undefined, text)),
    async page(path) {
      const response = await fetchApp("GET", path);
      return { status: response.status, type: response.headers.get("content-type"), text: await response.text() };
    },
    dispose: () => mf.dispose(),
  };
}
