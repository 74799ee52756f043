import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkOpsProof } from "../../scripts/check-ops-proof.mjs";

const script = new URL("../../scripts/check-ops-proof.mjs", import.meta.url).pathname;
const scratch: string[] = [];
afterAll(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "ops-check-"));
  scratch.push(dir);
  return dir;
}

/** A throwaway repository with a committer of its own, so the machine's git config does not matter. */
function repo() {
  const dir = tempDir();
  const git = (...args: string[]) =>
    execFileSync("git", args, {
      cwd: dir,
      encoding: "utf8",
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: "t",
        GIT_AUTHOR_EMAIL: "t@example.test",
        GIT_COMMITTER_NAME: "t",
        GIT_COMMITTER_EMAIL: "t@example.test",
        GIT_CONFIG_NOSYSTEM: "1",
        HOME: dir,
      },
    }).trim();
  git("init", "-q", "-b", "main");
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  };
  const commit = (message: string, files: Record<string, string>) => {
    for (const [path, text] of Object.entries(files)) write(path, text);
    git("add", "-A");
    git("commit", "-q", "-m", message);
    return git("rev-parse", "HEAD");
  };
  commit("start", { "OPS.md": "# runbook\n", "gateway/src/routes/si.ts": "v1\n", "README.md": "hi\n" });
  return { dir, git, commit };
}

describe("check-ops-proof", () => {
  it("fails a route change that neither updates OPS.md nor adds a proof", () => {
    const { dir, commit } = repo();
    commit("a new route", { "gateway/src/routes/si.ts": "v2\n", "README.md": "changed\n" });
    expect(checkOpsProof({ cwd: dir, base: "" })).toEqual({
      ok: false,
      reason:
        "HEAD against its first parent: route/CORS/JWKS change without an OPS.md update or a new ops/proofs/*.txt",
      guarded: ["gateway/src/routes/si.ts"],
    });
  });

  it.each([
    "gateway/src/openapi/operations.ts",
    "gateway/src/http/cors.ts",
    "gateway/src/http/key-cache.ts",
    "gateway/wrangler.jsonc",
    "services/billing/src/keys.ts",
    "gateway/src/routes/new-worker.ts",
  ])("guards %s", (path) => {
    const { dir, commit } = repo();
    commit("change", { [path]: "changed\n" });
    expect(checkOpsProof({ cwd: dir, base: "" })).toMatchObject({ ok: false, guarded: [path] });
  });

  it("passes a route change with an OPS.md update, or with a new proof", () => {
    const { dir, commit } = repo();
    commit("route and runbook", { "gateway/src/routes/si.ts": "v2\n", "OPS.md": "# runbook, updated\n" });
    expect(checkOpsProof({ cwd: dir, base: "" })).toMatchObject({ ok: true, guarded: ["gateway/src/routes/si.ts"] });
    commit("route and proof", {
      "gateway/src/routes/si.ts": "v3\n",
      "ops/proofs/2026-12-01-api.cognomega.com.txt": "probes: 12 of 12 ok\n",
    });
    expect(checkOpsProof({ cwd: dir, base: "" }).reason).toContain("a new proof");
  });

  it("does not count an edited old proof, or a file under ops/proofs that is not a .txt", () => {
    const { dir, commit } = repo();
    commit("a proof", { "ops/proofs/2026-11-30-x.txt": "old\n" });
    commit("route, old proof edited", { "gateway/src/routes/si.ts": "v2\n", "ops/proofs/2026-11-30-x.txt": "new\n" });
    expect(checkOpsProof({ cwd: dir, base: "" }).ok).toBe(false);
    commit("route, not a proof", { "gateway/src/routes/si.ts": "v3\n", "ops/proofs/notes.md": "x\n" });
    expect(checkOpsProof({ cwd: dir, base: "" }).ok).toBe(false);
  });

  it("passes changes elsewhere", () => {
    const { dir, commit } = repo();
    commit("docs", { "README.md": "changed\n", "gateway/src/http/other.ts": "x\n" });
    expect(checkOpsProof({ cwd: dir, base: "" })).toMatchObject({ ok: true, guarded: [] });
  });

  it("judges a merge by everything the merged branch brought, a proof in any of its commits included", () => {
    const { dir, git, commit } = repo();
    git("checkout", "-q", "-b", "feature");
    commit("route", { "gateway/src/routes/si.ts": "v2\n" });
    commit("proof", { "ops/proofs/2026-12-01-local.txt": "ok\n" });
    git("checkout", "-q", "main");
    commit("unrelated", { "README.md": "main moved\n" });
    git("merge", "-q", "--no-ff", "-m", "merge feature", "feature");
    expect(checkOpsProof({ cwd: dir, base: "" })).toMatchObject({ ok: true, guarded: ["gateway/src/routes/si.ts"] });

    git("checkout", "-q", "-b", "second");
    commit("route without proof", { "gateway/src/http/cors.ts": "x\n" });
    git("checkout", "-q", "main");
    git("merge", "-q", "--no-ff", "-m", "merge second", "second");
    expect(checkOpsProof({ cwd: dir, base: "" })).toMatchObject({ ok: false, guarded: ["gateway/src/http/cors.ts"] });
  });

  it("with OPS_CHECK_BASE, judges every commit since the merge base", () => {
    const { dir, commit } = repo();
    const base = commit("base", { "README.md": "base\n" });
    commit("route", { "gateway/src/routes/si.ts": "v2\n" });
    commit("later", { "README.md": "later\n" });
    expect(checkOpsProof({ cwd: dir, base: "" }).ok).toBe(true);
    expect(checkOpsProof({ cwd: dir, base })).toMatchObject({ ok: false, guarded: ["gateway/src/routes/si.ts"] });
    commit("runbook", { "OPS.md": "updated\n" });
    expect(checkOpsProof({ cwd: dir, base }).ok).toBe(true);
    // A push that creates a branch has an all-zero `before`: judged by HEAD's parent instead.
    expect(checkOpsProof({ cwd: dir, base: "0000000000000000000000000000000000000000" }).reason).toContain(
      "HEAD against its first parent",
    );
    expect(checkOpsProof({ cwd: dir, base: "deadbeefdeadbeef" })).toMatchObject({
      ok: true,
      reason: "OPS_CHECK_BASE deadbeefdeadbeef is not in this clone (fetch more history)",
    });
  });

  it("passes, saying why, without history: first commit, shallow clone, no repository", () => {
    const first = repo();
    expect(checkOpsProof({ cwd: first.dir, base: "" })).toEqual({
      ok: true,
      reason: "HEAD is the first commit",
      guarded: [],
    });
    first.commit("route", { "gateway/src/routes/si.ts": "v2\n" });
    const shallow = join(tempDir(), "clone");
    execFileSync("git", ["clone", "-q", "--depth", "1", `file://${first.dir}`, shallow]);
    expect(checkOpsProof({ cwd: shallow, base: "" })).toMatchObject({
      ok: true,
      reason: "shallow clone: HEAD's parent is not here",
    });
    expect(checkOpsProof({ cwd: tempDir(), base: "" })).toMatchObject({ ok: true, reason: "not a git repository" });
  });

  it("as a script, exits 1 with the fix printed, and 0 otherwise", () => {
    const { dir, commit } = repo();
    commit("route", { "gateway/src/routes/si.ts": "v2\n" });
    const env = { ...process.env, OPS_CHECK_BASE: "" };
    const failed = spawnSync(process.execPath, [script], { cwd: dir, encoding: "utf8", env });
    expect(failed.status).toBe(1);
    expect(failed.stdout).toContain("check-ops-proof: FAILED");
    expect(failed.stdout).toContain("  gateway/src/routes/si.ts");
    expect(failed.stderr).toContain("npm run probe -- <base-url>");
    commit("runbook", { "OPS.md": "updated\n" });
    commit("route again", { "gateway/src/routes/si.ts": "v3\n", "OPS.md": "again\n" });
    const passed = spawnSync(process.execPath, [script], { cwd: dir, encoding: "utf8", env });
    expect(passed.status).toBe(0);
    expect(passed.stdout).toContain("check-ops-proof: ok");
  });
});
