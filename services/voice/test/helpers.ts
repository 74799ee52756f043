import { env } from "cloudflare:workers";
import { expect, vi } from "vitest";
import { voiceSettings } from "../src/config";

/** The voice worker's settings as the test config sets them (Cartesia at https://cartesia.test). */
export function testSettings() {
  return voiceSettings(env);
}

/** A request the fake Cartesia received, its required headers already checked. */
export interface SeenCartesiaRequest {
  url: URL;
  method: string;
  headers: Headers;
  /** The JSON body, parsed (speech). */
  json?: Record<string, unknown>;
  /** The multipart body (transcription). */
  form?: FormData;
  signal: AbortSignal | null | undefined;
}

/**
 * Fakes Cartesia at its HTTP edge: every fetch to cartesia.test goes to `handler`, after asserting
 * the headers Cartesia requires (Bearer key, Cartesia-Version, and JSON content type for JSON bodies);
 * a fetch anywhere else fails the test.
 */
export function fakeCartesia(
  handler: (request: SeenCartesiaRequest, index: number) => Response | Promise<Response>,
  key = "test-cartesia-key",
) {
  const seen: SeenCartesiaRequest[] = [];
  const spy = vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.host !== "cartesia.test") throw new Error(`unexpected fetch to ${url}`);
    const headers = new Headers(init?.headers);
    expect(headers.get("authorization")).toBe(`Bearer ${key}`);
    expect(headers.get("cartesia-version")).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    const request: SeenCartesiaRequest = { url, method: init?.method ?? "GET", headers, signal: init?.signal };
    if (typeof init?.body === "string") {
      expect(headers.get("content-type")).toBe("application/json");
      request.json = JSON.parse(init.body);
    } else if (init?.body instanceof FormData) {
      request.form = init.body;
    }
    seen.push(request);
    return handler(request, seen.length - 1);
  });
  return { seen, spy };
}

/** A Cartesia error answer in its 2026-03-01 JSON shape. */
export function cartesiaError(
  status: number,
  errorCode: string | null,
  headers: Record<string, string> = {},
  message = "secret provider detail",
): Response {
  return Response.json(
    { error_code: errorCode, title: "Fake failure", message, request_id: "req_1" },
    { status, headers },
  );
}

/**
 * A body the test writes by hand: the reader sees each chunk as it is pushed, so a test can read the
 * first chunk before the body has finished.
 */
export function controlledBody(): {
  stream: ReadableStream<Uint8Array>;
  push: (bytes: Uint8Array) => void;
  close: () => void;
} {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
  });
  return { stream, push: (bytes) => controller.enqueue(bytes), close: () => controller.close() };
}

/** What an AI double was asked. */
export interface AiCall {
  model: string;
  inputs: Record<string, unknown>;
}

/** A test double for the AI binding: each run goes to `handler`. */
export function fakeAi(handler: (call: AiCall, index: number) => unknown | Promise<unknown>): {
  ai: Ai;
  calls: AiCall[];
} {
  const calls: AiCall[] = [];
  const ai = {
    run: async (model: string, inputs: Record<string, unknown>) => {
      const call = { model, inputs };
      calls.push(call);
      return handler(call, calls.length - 1);
    },
  } as unknown as Ai;
  return { ai, calls };
}

/** Reads a whole stream's bytes. */
export async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** The code of a rejected promise's ServiceError, with its details. */
export async function rejection(
  promise: Promise<unknown>,
): Promise<{ code: string; status?: number; message: string; details?: Record<string, unknown> }> {
  try {
    await promise;
  } catch (error) {
    return error as { code: string; status?: number; message: string; details?: Record<string, unknown> };
  }
  throw new Error("expected a rejection");
}
