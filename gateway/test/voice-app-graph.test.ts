import { parseAppGraph } from "@cognomega/shared";
import { describe, expect, it } from "vitest";
import { testWav } from "../../test-support/fake-cartesia";
import { FAKE_APP_GRAPH } from "../../test-support/fake-provider";
import { as, gateway, guestToken } from "./helpers";

// The app maker's voice path: an idea spoken into /api/voice/ask with skill=app-graph comes back as
// a validated App Graph, read aloud as a summary, not as JSON. The audio may also be an upload.

interface LoopAnswer {
  transcript: { text: string };
  answer: { data?: unknown; output: string } | null;
  audio: { characters: number; credits_used: number } | null;
}

describe("a spoken idea becomes an App Graph", () => {
  it("answers the app-graph skill's validated graph from an uploaded recording, spoken as a summary", async () => {
    const { token } = await guestToken();
    const uploaded = await gateway("/api/upload/direct", {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "audio/wav" },
      body: testWav(0.5, { transcript: "[app-graph] an app to track watering my plants" }),
    });
    expect(uploaded.status).toBe(201);
    const { key } = (await uploaded.json()) as { key: string };
    const response = await as(token, "/api/voice/ask?skill=app-graph", {
      method: "POST",
      body: JSON.stringify({ upload_key: key }),
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as LoopAnswer;
    expect(body.transcript.text).toBe("[app-graph] an app to track watering my plants");
    expect(parseAppGraph(body.answer?.data)).toEqual(FAKE_APP_GRAPH);
    // A short summary is spoken (and billed), never the graph's JSON.
    expect(body.audio?.characters).toBeGreaterThan(0);
    expect(body.audio?.characters).toBeLessThan((body.answer?.output ?? "").length);
    expect(response.headers.get("X-Characters")).toBe(String(body.audio?.characters));
  });

  it("refuses another tenant's upload and a body that is neither audio nor an upload key", async () => {
    const owner = await guestToken();
    const uploaded = await gateway("/api/upload/direct", {
      method: "POST",
      headers: { Authorization: `Bearer ${owner.token}`, "Content-Type": "audio/wav" },
      body: testWav(0.5, { transcript: "mine" }),
    });
    const { key } = (await uploaded.json()) as { key: string };
    const stranger = await guestToken();
    const theirs = await as(stranger.token, "/api/voice/ask", {
      method: "POST",
      body: JSON.stringify({ upload_key: key }),
    });
    expect(theirs.status).toBe(404);
    const junk = await as(stranger.token, "/api/voice/ask", { method: "POST", body: JSON.stringify({ upload: key }) });
    expect(junk.status).toBe(400);
  });
});
