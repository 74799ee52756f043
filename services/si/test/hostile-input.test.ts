import { describe, expect, it } from "vitest";
import { citationsIn } from "../src/grounding";
import { estimateTokens } from "../src/tokens";

// A prompt (and an answer a prompt can steer) reaches SI's regular expressions: the token estimate's
// piece pattern and the citation pattern. Each gets 100 KB shaped to make a backtracking pattern
// retry; the test's own timeout is the guard. (A skill answer's fence: extract-json.test.ts.)
const KB100 = 100_000;
const run = (unit: string) => unit.repeat(Math.ceil(KB100 / unit.length));

describe("SI patterns on 100 KB of hostile input", () => {
  it("estimates the tokens of pathological prompts", () => {
    for (const unit of [
      " ",
      " \n",
      "\t ",
      " !",
      "!a",
      "aA",
      "AAa",
      "é",
      "\u0301",
      "1",
      " €",
      "ー",
      "\u00a0",
      "\u3000a",
      "!\n/",
      "\r\n ",
      " Ωω",
      "漢",
      "한 ",
      "😀",
    ])
      expect(estimateTokens(`${run(unit)}x`)).toBeGreaterThan(0);
  });

  it("finds citations in pathological answers", () => {
    const sources = [{ chunk_id: "doc#1", doc_id: "doc", title: "t", heading: "", text: "t", score: 1 }];
    for (const unit of ["[", "[a", "[doc#1", "[]", "] ["]) expect(citationsIn(run(unit), sources as never)).toEqual([]);
    expect(citationsIn(`${run("[")} [doc#1]`, sources as never)).toEqual(["doc#1"]);
  });
});
