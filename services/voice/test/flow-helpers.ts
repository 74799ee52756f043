import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import type { Identity } from "@cognomega/shared";
import { vi } from "vitest";
import { uniqueClientAddress } from "../../../test-support/client-address";
import { env } from "../../../test-support/mesh-env";
import { VoiceService } from "../src/index";

export const call = { requestId: "voice-test-request" };
export const admin: Identity = { sub: "admin", source: "admin", admin: true };

/** The service as its own entrypoint; `overrides` replace bindings (an AI double, settings). */
export function voice(overrides: Partial<VoiceEnv> = {}): { service: VoiceService; done: () => Promise<void> } {
  const ctx = createExecutionContext();
  return { service: new VoiceService(ctx, { ...env, ...overrides }), done: () => waitOnExecutionContext(ctx) };
}

/** A new guest account with its 5 starter credits, through the real billing worker. */
export async function guest(): Promise<Identity> {
  const { sub } = await env.BILLING.issueGuestToken({}, call, uniqueClientAddress());
  return { sub, source: "jwt", admin: false };
}

export async function balanceOf(identity: Identity): Promise<{ balance: number; reserved: number }> {
  return env.BILLING.balance(identity, call);
}

/** A WAV file of `seconds` of 16 kHz mono 16-bit audio; `loud` puts a tone in it (else silence). */
export function wav(seconds: number, loud = true): Uint8Array {
  const rate = 16_000;
  const samples = Math.round(seconds * rate);
  const bytes = new Uint8Array(44 + samples * 2);
  const view = new DataView(bytes.buffer);
  const text = (offset: number, value: string) => {
    for (let i = 0; i < value.length; i++) bytes[offset + i] = value.charCodeAt(i);
  };
  text(0, "RIFF");
  view.setUint32(4, 36 + samples * 2, true);
  text(8, "WAVE");
  text(12, "fmt ");
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true);
  view.setUint16(22, 1, true);
  view.setUint32(24, rate, true);
  view.setUint32(28, rate * 2, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  text(36, "data");
  view.setUint32(40, samples * 2, true);
  if (loud) for (let i = 0; i < samples; i++) view.setInt16(44 + i * 2, Math.round(8000 * Math.sin(i / 8)), true);
  return bytes;
}

/** A body stream of `bytes`, with its meta as the gateway passes it. */
export function audioBody(bytes: Uint8Array, type = "audio/wav") {
  return {
    body: new Response(bytes).body as ReadableStream<Uint8Array>,
    meta: { contentLength: String(bytes.byteLength), contentType: type },
  };
}

/** A request Cartesia's fake received. */
export interface CartesiaSeen {
  path: string;
  headers: Headers;
  json?: Record<string, unknown>;
  form?: FormData;
}

/**
 * Fakes Cartesia at its HTTP edge: every fetch to cartesia.test goes to `handler` after the
 * headers Cartesia requires are checked; anything else fails the test.
 */
export function fakeCartesia(handler: (seen: CartesiaSeen, index: number) => Response | Promise<Response>) {
  const seen: CartesiaSeen[] = [];
  const spy = vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input as RequestInfo, init);
    const url = new URL(request.url);
    if (url.host !== "cartesia.test") throw new Error(`unexpected fetch to ${request.url}`);
    if (request.headers.get("authorization") !== "Bearer test-cartesia-key")
      return Response.json({ error_code: "unauthorized", title: "Unauthorized", message: "bad key" }, { status: 401 });
    if (!/^\d{4}-\d{2}-\d{2}$/.test(request.headers.get("cartesia-version") ?? ""))
      return Response.json({ error_code: "invalid_version", title: "Bad version", message: "?" }, { status: 400 });
    const entry: CartesiaSeen = { path: url.pathname + url.search, headers: request.headers };
    const type = request.headers.get("content-type") ?? "";
    if (type.includes("json")) entry.json = (await request.json()) as Record<string, unknown>;
    else if (type.includes("multipart")) entry.form = await request.formData();
    seen.push(entry);
    return handler(entry, seen.length - 1);
  });
  return { seen, spy };
}

/** A streamed audio answer of `chunks` chunks of `size` bytes, each handed out on its read. */
export function audioStream(chunks: number, size: number, type = "audio/mpeg") {
  let sent = 0;
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent === chunks) return controller.close();
      sent += 1;
      controller.enqueue(new Uint8Array(size).fill(sent));
    },
    cancel() {
      cancelled = true;
    },
  });
  return {
    response: new Response(body, { headers: { "Content-Type": type } }),
    sent: () => sent,
    cancelled: () => cancelled,
  };
}

/** Reads a stream to its end. */
export async function bytesOf(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
