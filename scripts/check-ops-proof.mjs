#!/usr/bin/env node
// `node scripts/check-ops-proof.mjs`, run by .ci/run: a change that touches the public routes, CORS or
// the JWKS must also update OPS.md or add a probe proof under ops/proofs/ (seed §11), so what is
// deployed is always backed by a runbook that matches it or a probe that saw it.
//
// "A change" is HEAD against its first parent: one commit, a merged branch (a merge commit's first
// parent is the branch it was merged into), or a pull request (GitHub checks out a merge commit for
// it). OPS_CHECK_BASE names another base (a pull request's base, a push's `before`); the change is
// then everything since the merge base. With no base to compare against (a root commit, a shallow
// clone, no git at all) the check passes and says why.
import { spawnSync } from "node:child_process";
import { pathToFileURL } from "node:url";

/** Paths whose change needs OPS.md or a new proof: the route table, CORS and JWKS configuration. */
export const GUARDED = [
  /^gateway\/src\/routes\//,
  /^gateway\/src\/openapi\/operations\.ts$/,
  /^gateway\/src\/http\/cors\.ts$/,
  /^gateway\/src\/http\/key-cache\.ts$/,
  // ALLOWED_ORIGINS, JWKS_CACHE_TTL_SECONDS and the route pattern live here.
  /^gateway\/wrangler\.jsonc$/,
  // How the JWKS is built and served (kids, max-age, rotation rules).
  /^services\/billing\/src\/keys\.ts$/,
];

const NO_COMMIT = /^0+$/;

function git(cwd, args) {
  const result = spawnSync("git", args, { cwd, encoding: "utf8" });
  return { ok: result.status === 0, out: (result.stdout ?? "").trim(), err: (result.stderr ?? "").trim() };
}

/**
 * Whether the change at `cwd`'s HEAD satisfies the rule. Returns `{ ok, reason, guarded }`: `ok`
 * false only when a guarded path changed and neither OPS.md changed nor a proof was added.
 * @param {{ cwd?: string, base?: string }} [options]
 */
export function checkOpsProof({ cwd = process.cwd(), base = process.env.OPS_CHECK_BASE } = {}) {
  if (!git(cwd, ["rev-parse", "--git-dir"]).ok) return { ok: true, reason: "not a git repository", guarded: [] };
  if (!git(cwd, ["rev-parse", "--verify", "--quiet", "HEAD^{commit}"]).ok)
    return { ok: true, reason: "no commit yet", guarded: [] };
  let range;
  let described;
  if (base && !NO_COMMIT.test(base)) {
    if (!git(cwd, ["rev-parse", "--verify", "--quiet", `${base}^{commit}`]).ok)
      return { ok: true, reason: `OPS_CHECK_BASE ${base} is not in this clone (fetch more history)`, guarded: [] };
    range = [`${base}...HEAD`];
    described = `changes since ${base.slice(0, 12)}`;
  } else if (git(cwd, ["rev-parse", "--verify", "--quiet", "HEAD^1^{commit}"]).ok) {
    range = ["HEAD^1", "HEAD"];
    described = "HEAD against its first parent";
  } else {
    const shallow = git(cwd, ["rev-parse", "--is-shallow-repository"]).out === "true";
    return {
      ok: true,
      reason: shallow ? "shallow clone: HEAD's parent is not here" : "HEAD is the first commit",
      guarded: [],
    };
  }
  const diff = git(cwd, ["diff", "--name-status", "--no-renames", ...range]);
  if (!diff.ok) return { ok: true, reason: `git diff failed: ${diff.err}`, guarded: [] };
  const changes = diff.out
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [status, path] = line.split("\t");
      return { status, path };
    });
  const guarded = changes.filter(({ path }) => GUARDED.some((pattern) => pattern.test(path))).map(({ path }) => path);
  if (guarded.length === 0) return { ok: true, reason: `${described}: no route, CORS or JWKS change`, guarded };
  const opsUpdated = changes.some(({ path }) => path === "OPS.md");
  const proofAdded = changes.some(
    ({ status, path }) => status === "A" && path.startsWith("ops/proofs/") && path.endsWith(".txt"),
  );
  if (opsUpdated || proofAdded)
    return {
      ok: true,
      reason: `${described}: route/CORS/JWKS change comes with ${opsUpdated ? "an OPS.md update" : "a new proof"}`,
      guarded,
    };
  return {
    ok: false,
    reason: `${described}: route/CORS/JWKS change without an OPS.md update or a new ops/proofs/*.txt`,
    guarded,
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const { ok, reason, guarded } = checkOpsProof();
  console.log(`check-ops-proof: ${ok ? "ok" : "FAILED"}: ${reason}`);
  for (const path of guarded) console.log(`  ${path}`);
  if (!ok) {
    console.error(
      "Update OPS.md if operating the change differs, or run `npm run probe -- <base-url>` against a mesh running\n" +
        "the change (`npm start`) and commit the proof it writes to ops/proofs/ (OPS.md, Probes and proofs).",
    );
    process.exit(1);
  }
}
