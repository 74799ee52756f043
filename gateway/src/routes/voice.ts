import type { AudioBodyMeta, Meter, SpeechAnswer } from "@cognomega/shared";
import type { RequestContext } from "../http/context";
import { requireFeature } from "../http/gates";
import { json } from "../http/respond";
import type { GatewayRouter } from "../http/router";

/** The query parameters `POST /api/voice/ask` passes on; any other parameter is not the service's. */
const ASK_PARAMS = ["skill", "policy", "model", "max_tokens", "voice", "format", "language"] as const;
const TRANSCRIBE_PARAMS = ["model", "language"] as const;
const VOICES_PARAMS = ["provider", "language", "cursor", "limit"] as const;

/**
 * The named query parameters that are present, and only those: the service's schemas are strict
 * and tell "absent" from "empty", so nothing is filled in here.
 */
function queryOf(ctx: RequestContext, names: readonly string[]): Record<string, string> {
  const query: Record<string, string> = {};
  for (const name of names) {
    const value = ctx.url.searchParams.get(name);
    if (value !== null) query[name] = value;
  }
  return query;
}

/** The declared length and type of an audio body, as sent: the service checks both. */
function audioMeta(request: Request): AudioBodyMeta {
  return { contentLength: request.headers.get("Content-Length"), contentType: request.headers.get("Content-Type") };
}

/** `application/json` or any `+json` type, whatever its parameters. */
function isJson(contentType: string | null): boolean {
  if (contentType === null) return false;
  const media = (contentType.split(";", 1)[0] ?? "").trim().toLowerCase();
  return media === "application/json" || media.endsWith("+json");
}

/** What `openAiTranscription` answers: JSON, or plain text for `response_format=text`. */
interface OpenAiTranscriptionAnswer {
  body: unknown;
  contentType: string;
  meter: Meter;
}

/**
 * The audio as the provider sends it, never buffered here: the first bytes reach the client while
 * the rest is still being spoken. The whole cost is known before the call, so the meter goes in the
 * headers.
 */
function speechResponse(ctx: RequestContext, answer: SpeechAnswer): Response {
  ctx.meter = answer.meter;
  // A client that leaves cancels this stream; the voice worker hears of it only through `stop`
  // (a cancel does not travel back over RPC), and then stops the provider and settles what was made.
  const reader = answer.stream.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await reader.read();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
    async cancel(reason) {
      await reader.cancel(reason).catch(() => {});
      await answer.stop().catch(() => {});
    },
  });
  return new Response(body, {
    headers: { "Content-Type": answer.contentType, "Cache-Control": "no-store" },
  });
}

/** Every route here but the admin catalog obeys `voice.enabled` (403 `feature_disabled` when off). */
export function registerVoiceRoutes(router: GatewayRouter): void {
  /** Text to speech: `{ text, voice?, model?, format?, speed?, language? }` → the audio, streamed. */
  router.post("/api/voice/speech", async (_request, ctx) => {
    const identity = await ctx.identity();
    await requireFeature(ctx, identity, "voice.enabled");
    const body = await ctx.json();
    return speechResponse(ctx, await ctx.env.VOICE.speech(body, identity, ctx.call));
  });

  /**
   * Speech to text: the audio as the body (`?model=&language=`), or `{ upload_key }` naming one of
   * the caller's uploads.
   */
  router.post("/api/voice/transcribe", async (request, ctx) => {
    const identity = await ctx.identity();
    await requireFeature(ctx, identity, "voice.enabled");
    const answer = isJson(request.headers.get("Content-Type"))
      ? await ctx.env.VOICE.transcribeUpload(await ctx.json(), identity, ctx.call)
      : await ctx.env.VOICE.transcribe(
          request.body,
          audioMeta(request),
          queryOf(ctx, TRANSCRIBE_PARAMS),
          identity,
          ctx.call,
        );
    ctx.meter = answer.meter;
    return json(answer.body);
  });

  /** The voices a caller may pick, paged: `?provider=&language=&cursor=&limit=`. */
  router.get("/api/voice/voices", async (_request, ctx) => {
    const identity = await ctx.identity();
    await requireFeature(ctx, identity, "voice.enabled");
    return json(await ctx.env.VOICE.voices(queryOf(ctx, VOICES_PARAMS), identity, ctx.call));
  });

  /**
   * The voice loop: the audio (as the body, or `{ upload_key }` naming one of the caller's uploads,
   * as for transcribe) → its transcript → an SI ask → the answer spoken back. The ask's options are
   * query parameters.
   */
  router.post("/api/voice/ask", async (request, ctx) => {
    const identity = await ctx.identity();
    await requireFeature(ctx, identity, "voice.enabled");
    const scoped = ctx.scopedIdempotencyKey();
    const query = queryOf(ctx, ASK_PARAMS);
    const answer = isJson(request.headers.get("Content-Type"))
      ? await ctx.env.VOICE.askUpload(await ctx.json(), query, identity, scoped, ctx.call)
      : await ctx.env.VOICE.ask(request.body, audioMeta(request), query, identity, scoped, ctx.call);
    ctx.meter = answer.meter;
    return json(answer.body);
  });

  /** OpenAI-compatible speech: `{ model, input, voice, response_format }` → the audio, streamed. */
  router.post("/v1/audio/speech", async (_request, ctx) => {
    const identity = await ctx.identity();
    await requireFeature(ctx, identity, "voice.enabled");
    const body = await ctx.json();
    return speechResponse(ctx, await ctx.env.VOICE.openAiSpeech(body, identity, ctx.call));
  });

  /** OpenAI-compatible transcription: a multipart form with `file` and `model`. */
  router.post("/v1/audio/transcriptions", async (request, ctx) => {
    const identity = await ctx.identity();
    await requireFeature(ctx, identity, "voice.enabled");
    // Its `body: unknown` is not an RPC-serializable type, so the binding types the answer `never`.
    const answer = (await ctx.env.VOICE.openAiTranscription(
      request.body,
      audioMeta(request),
      identity,
      ctx.call,
    )) as unknown as OpenAiTranscriptionAnswer;
    ctx.meter = answer.meter;
    // `response_format=text` (and srt, vtt) answers plain text, as OpenAI's does.
    const body = typeof answer.body === "string" ? answer.body : JSON.stringify(answer.body);
    return new Response(body, { headers: { "Content-Type": answer.contentType } });
  });

  /** Admin: the voice catalog in force; replace it with PUT, restore the default with DELETE. */
  router.get("/api/admin/voice-catalog", async (_request, ctx) =>
    json(await ctx.env.VOICE.getCatalog(await ctx.requireAdmin(), ctx.call)),
  );
  router.put("/api/admin/voice-catalog", async (_request, ctx) => {
    const admin = await ctx.requireAdmin();
    return json(await ctx.env.VOICE.setCatalog(await ctx.json(), admin, ctx.call));
  });
  router.delete("/api/admin/voice-catalog", async (_request, ctx) =>
    json(await ctx.env.VOICE.resetCatalog(await ctx.requireAdmin(), ctx.call)),
  );
}
