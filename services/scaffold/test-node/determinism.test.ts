import { createHash } from "node:crypto";
import { parseAppGraph } from "@cognomega/shared";
import { afterEach, describe, expect, it } from "vitest";
import everyType from "../samples/every-type.json";
import { renderProject } from "../src/render";
import { zipProject } from "../src/zip";

const archiveSha = () =>
  createHash("sha256")
    .update(zipProject(renderProject(parseAppGraph(everyType)).files, "field-notes"))
    .digest("hex");

describe("archive determinism across machines", () => {
  const original = process.env.TZ;
  afterEach(() => {
    process.env.TZ = original;
  });

  it("gives the same archive bytes whatever the machine's time zone", () => {
    const hashes = ["UTC", "America/New_York", "Asia/Kolkata", "Pacific/Kiritimati"].map((zone) => {
      process.env.TZ = zone;
      return archiveSha();
    });
    expect(new Set(hashes).size).toBe(1);
  });
});
