import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { TOOLCHAIN_VERSIONS } from "../src/render";

describe("the generated project's toolchain", () => {
  it("pins exactly the versions this repository uses", () => {
    const root = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8"));
    for (const [name, version] of Object.entries(TOOLCHAIN_VERSIONS))
      expect(root.devDependencies[name], name).toBe(version);
    expect(root.overrides.vite).toBe(TOOLCHAIN_VERSIONS.vite);
  });
});
