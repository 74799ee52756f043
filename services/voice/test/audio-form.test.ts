import { describe, expect, it } from "vitest";
import { failure } from "../../../test-support/failure";
import { inspectAudio } from "../src/audio";
import { FORM_OVERHEAD_BYTES, readAudioForm } from "../src/audio-form";
import { chunked, observedStream, wav } from "./audio-fixtures";

/** A form as a client would send it: its bytes and the Content-Type the runtime chose. */
async function encoded(form: FormData): Promise<{ bytes: Uint8Array; contentType: string }> {
  const request = new Request("https://form.test/", { method: "POST", body: form });
  return {
    bytes: new Uint8Array(await request.arrayBuffer()),
    contentType: request.headers.get("content-type") ?? "",
  };
}

async function send(form: FormData, maxAudioBytes = 100_000) {
  const { bytes, contentType } = await encoded(form);
  const body = observedStream(chunked(bytes, 700));
  return {
    body,
    result: readAudioForm(body.stream, { contentLength: String(bytes.length), contentType }, maxAudioBytes),
  };
}

const audio = wav({ dataBytes: 16_000 });

function openAiForm(): FormData {
  const form = new FormData();
  form.append("file", new File([audio], "speech.wav", { type: "audio/wav" }));
  form.append("model", "whisper-1");
  form.append("language", "en");
  form.append("response_format", "verbose_json");
  form.append("prompt", "Cognomega, Cartesia");
  form.append("temperature", "0");
  form.append("timestamp_granularities[]", "word");
  form.append("timestamp_granularities[]", "segment");
  return form;
}

describe("readAudioForm", () => {
  it("reads OpenAI's transcription form: the file, its name and type, and every field", async () => {
    const { result, body } = await send(openAiForm());
    const form = await result;
    expect(form.audio).toEqual(audio);
    expect(form.declaredType).toBe("audio/wav");
    expect(form.filename).toBe("speech.wav");
    expect(form.fields).toEqual({
      model: "whisper-1",
      language: "en",
      response_format: "verbose_json",
      prompt: "Cognomega, Cartesia",
      temperature: "0",
      "timestamp_granularities[]": "word,segment",
    });
    expect(body.cancelled()).toBe(false);
    expect(inspectAudio(form.audio, form.declaredType).durationMs).toBe(500);
  });

  it("counts a file typed application/octet-stream or untyped as undeclared", async () => {
    for (const type of ["application/octet-stream", ""]) {
      const form = new FormData();
      form.append("file", new File([audio], "blob", { type }));
      form.append("model", "whisper-1");
      expect((await (await send(form)).result).declaredType).toBeNull();
    }
  });

  it("refuses a form without a file, or with text where the file goes", async () => {
    const none = new FormData();
    none.append("model", "whisper-1");
    await expect((await send(none)).result).rejects.toMatchObject({
      code: "invalid_input",
      message: "file is required",
    });
    const text = new FormData();
    text.append("file", "not a file");
    expect((await failure((await send(text)).result)).code).toBe("invalid_input");
  });

  it("refuses an empty file, two files, and a file in another field", async () => {
    const empty = new FormData();
    empty.append("file", new File([], "empty.wav", { type: "audio/wav" }));
    expect((await failure((await send(empty)).result)).code).toBe("invalid_input");
    const two = openAiForm();
    two.append("file", new File([audio], "again.wav", { type: "audio/wav" }));
    expect((await failure((await send(two)).result)).code).toBe("invalid_input");
    const stray = openAiForm();
    stray.append("prompt_file", new File([audio], "x.wav"));
    expect((await failure((await send(stray)).result)).code).toBe("invalid_input");
  });

  it("refuses more than 32 fields and a field over 4 KiB", async () => {
    const many = openAiForm();
    for (let i = 0; i < 25; i++) many.append(`extra_${i}`, "x");
    expect((await failure((await send(many)).result)).code).toBe("invalid_input");
    const exactly = openAiForm();
    for (let i = 0; i < 24; i++) exactly.append(`extra_${i}`, "x");
    expect(Object.keys((await (await send(exactly)).result).fields)).toHaveLength(6 + 24);
    const long = openAiForm();
    long.set("prompt", "é".repeat(2049));
    expect((await failure((await send(long)).result)).code).toBe("invalid_input");
  });

  it("refuses a field name over 128 characters", async () => {
    const form = openAiForm();
    form.append("x".repeat(129), "1");
    expect((await failure((await send(form)).result)).code).toBe("invalid_input");
  });

  it("keeps a file name without its control characters, and none when nothing is left", async () => {
    const named = new FormData();
    named.append("file", new File([audio], "a\u0001b\u007f.wav", { type: "audio/wav" }));
    expect((await (await send(named)).result).filename).toBe("ab.wav");
    const unnamed = new FormData();
    unnamed.append("file", new File([audio], "\u0002", { type: "audio/wav" }));
    expect((await (await send(unnamed)).result).filename).toBeNull();
  });

  it("refuses a file over the audio limit with 413 and the limit", async () => {
    const { result } = await send(openAiForm(), audio.length - 1);
    expect(await failure(result)).toEqual({ code: "payload_too_large", details: { limit: audio.length - 1 } });
  });

  it("refuses, unread and cancelled, what is not multipart/form-data or has no boundary", async () => {
    for (const contentType of [
      "audio/wav",
      "application/x-www-form-urlencoded",
      "multipart/form-data",
      "multipart/form-data; boundary=",
      "multipart/mixed; boundary=abc",
    ]) {
      const body = observedStream([new Uint8Array(100)]);
      const result = await failure(readAudioForm(body.stream, { contentLength: "100", contentType }, 1000));
      expect(result.code).toBe("unsupported_media_type");
      expect(body.cancelled()).toBe(true);
      expect(body.pulled()).toBe(0);
    }
  });

  it("bounds the Content-Length by the audio limit plus the form overhead, before reading", async () => {
    const cases: [string | null, string][] = [
      [null, "length_required"],
      ["1e3", "invalid_input"],
      [String(1000 + FORM_OVERHEAD_BYTES + 1), "payload_too_large"],
      ["0", "invalid_input"],
    ];
    for (const [contentLength, code] of cases) {
      const body = observedStream([new Uint8Array(100)]);
      const contentType = "multipart/form-data; boundary=abc";
      const result = await failure(readAudioForm(body.stream, { contentLength, contentType }, 1000));
      expect(result.code).toBe(code);
      expect(body.cancelled()).toBe(true);
    }
  });

  it("reads exactly the declared length", async () => {
    const { bytes, contentType } = await encoded(openAiForm());
    const long = observedStream([bytes, new Uint8Array(10)]);
    const over = await failure(readAudioForm(long.stream, { contentLength: String(bytes.length), contentType }, 1e5));
    expect(over.code).toBe("invalid_input");
    expect(long.cancelled()).toBe(true);
    const short = observedStream([bytes.slice(0, 100)]);
    const under = readAudioForm(short.stream, { contentLength: String(bytes.length), contentType }, 1e5);
    await expect(under).rejects.toMatchObject({ message: `the body ended after 100 of ${bytes.length} bytes` });
  });

  it("refuses a malformed form with 400", async () => {
    const garbage = new TextEncoder().encode("this is not a multipart body at all");
    const body = observedStream([garbage]);
    const meta = { contentLength: String(garbage.length), contentType: "multipart/form-data; boundary=xyz" };
    expect((await failure(readAudioForm(body.stream, meta, 1000))).code).toBe("invalid_input");
  });
});
