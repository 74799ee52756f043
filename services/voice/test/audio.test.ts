import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { failure } from "../../../test-support/failure";
import { AUDIO_TYPES, type AudioFacts, inspectAudio, readAudioBody } from "../src/audio";
import {
  box,
  chunked,
  concat,
  flac,
  id3,
  mp3,
  mp3FrameHeader,
  mp3FrameLength,
  mp4,
  noise,
  observedStream,
  ogg,
  wav,
  webm,
} from "./audio-fixtures";

const meta = (contentLength: string | null, contentType: string | null = "audio/wav") => ({
  contentLength,
  contentType,
});

/** The reason inspectAudio refused the bytes with, or `ok`. */
function reasonOf(bytes: Uint8Array): string {
  try {
    inspectAudio(bytes, null);
    return "ok";
  } catch (error) {
    return String((error as { details?: { reason?: string } }).details?.reason);
  }
}

/** What inspectAudio threw: its code and details, or `ok`. */
async function inspected(bytes: Uint8Array, declared: string | null = null) {
  return failure(Promise.resolve().then(() => inspectAudio(bytes, declared)));
}

describe("readAudioBody refuses before reading", () => {
  const cases: [string, string | null, string | null, number, string][] = [
    ["no Content-Length", null, "audio/wav", 1000, "length_required"],
    ["a signed length", "+12", "audio/wav", 1000, "invalid_input"],
    ["a decimal length", "1.5", "audio/wav", 1000, "invalid_input"],
    ["a hex length", "0x10", "audio/wav", 1000, "invalid_input"],
    ["a length with spaces", " 12", "audio/wav", 1000, "invalid_input"],
    ["a length over the limit", "1001", "audio/wav", 1000, "payload_too_large"],
    ["an enormous length", "99999999999999999999", "audio/wav", 1000, "invalid_input"],
    ["a zero length", "0", "audio/wav", 1000, "invalid_input"],
    ["a type off the list", "10", "audio/aac", 1000, "unsupported_media_type"],
    ["no type", "10", null, 1000, "unsupported_media_type"],
    ["text", "10", "text/plain", 1000, "unsupported_media_type"],
  ];
  for (const [what, length, type, max, code] of cases) {
    it(`${what} → ${code}, and the body is cancelled unread`, async () => {
      const body = observedStream([new Uint8Array(10)]);
      const result = await failure(readAudioBody(body.stream, meta(length, type), max));
      expect(result.code).toBe(code);
      expect(body.cancelled()).toBe(true);
      expect(body.pulled()).toBe(0);
    });
  }

  it("says the limit on 413 and the accepted types on 415", async () => {
    expect((await failure(readAudioBody(null, meta("5000"), 4096))).details).toEqual({ limit: 4096 });
    const body = observedStream([new Uint8Array(10)]).stream;
    const refused = await failure(readAudioBody(body, meta("10", "audio/aac"), 4096));
    expect(refused.details?.accepted).toEqual(Object.keys(AUDIO_TYPES));
  });

  it("refuses a missing body as empty audio", async () => {
    const result = await failure(readAudioBody(null, meta("10"), 1000));
    expect(result.code).toBe("invalid_input");
  });
});

describe("readAudioBody reads exactly the declared length", () => {
  it("joins chunks into the declared bytes and reports the type without parameters", async () => {
    const bytes = wav({ dataBytes: 3000 });
    const body = observedStream(chunked(bytes, 1000));
    const read = await readAudioBody(body.stream, meta(String(bytes.length), "Audio/WAV; codecs=1"), 10_000);
    expect(read.declaredType).toBe("audio/wav");
    expect(read.bytes).toEqual(bytes);
    expect(body.cancelled()).toBe(false);
  });

  it("accepts every listed type, case-insensitively", async () => {
    for (const type of Object.keys(AUDIO_TYPES)) {
      const read = await readAudioBody(observedStream([new Uint8Array(4)]).stream, meta("4", type.toUpperCase()), 10);
      expect(read.declaredType).toBe(type);
    }
  });

  it("stops at the first byte past the declared length and cancels the rest", async () => {
    const body = observedStream([new Uint8Array(60), new Uint8Array(60), new Uint8Array(60), new Uint8Array(60)]);
    const result = await failure(readAudioBody(body.stream, meta("100"), 1000));
    expect(result.code).toBe("invalid_input");
    expect(body.pulled()).toBe(2);
    expect(body.cancelled()).toBe(true);
  });

  it("refuses a body that ends early, saying how far it got", async () => {
    const body = observedStream([new Uint8Array(40)]);
    await expect(readAudioBody(body.stream, meta("100"), 1000)).rejects.toMatchObject({
      code: "invalid_input",
      message: "the body ended after 40 of 100 bytes",
    });
  });

  it("refuses a body that breaks off", async () => {
    let sent = false;
    const broken = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent) controller.error(new Error("connection reset"));
        else {
          sent = true;
          controller.enqueue(new Uint8Array(10));
        }
      },
    });
    expect((await failure(readAudioBody(broken, meta("100"), 1000))).code).toBe("invalid_input");
  });
});

describe("inspectAudio recognises each container", () => {
  const containers: [string, Uint8Array, string][] = [
    ["WAV", wav({ dataBytes: 32_000 }), "audio/wav"],
    ["FLAC", flac({ sampleRate: 44_100, totalSamples: 44_100 }), "audio/flac"],
    ["MP3", mp3({ kbps: 128, frames: 10 }), "audio/mpeg"],
    ["MP3 after an ID3 tag", mp3({ kbps: 128, frames: 10, id3Bytes: 300 }), "audio/mpeg"],
    ["Ogg", ogg(), "audio/ogg"],
    ["WebM", webm(), "audio/webm"],
    ["MP4", mp4(), "audio/mp4"],
  ];
  for (const [what, bytes, type] of containers) {
    it(`${what} → ${type}, undeclared or declared as itself`, () => {
      const facts = inspectAudio(bytes, null);
      expect(facts.contentType).toBe(type);
      expect(facts.boundMs).toBeGreaterThanOrEqual(facts.durationMs ?? 0);
      expect(inspectAudio(bytes, "application/octet-stream").contentType).toBe(type);
      expect(inspectAudio(bytes, `${type}; x=1`).contentType).toBe(type);
    });
  }

  it("treats every alias as its container", () => {
    expect(inspectAudio(wav({ dataBytes: 100 }), "audio/x-wav").container).toBe("wav");
    expect(inspectAudio(ogg(), "audio/opus").container).toBe("ogg");
    expect(inspectAudio(webm(), "video/webm").container).toBe("webm");
    expect(inspectAudio(mp4(), "audio/x-m4a").container).toBe("mp4");
    expect(inspectAudio(mp3({ kbps: 64, frames: 3 }), "audio/mp3").container).toBe("mp3");
  });
});

describe("inspectAudio durations and bounds", () => {
  const expectBound = (facts: AudioFacts) => expect(facts.boundMs).toBeGreaterThanOrEqual(facts.durationMs ?? 0);

  it("WAV: 1.5 s exactly from the data size and byte rate", () => {
    const facts = inspectAudio(wav({ sampleRate: 16_000, dataBytes: 48_000 }), "audio/wav");
    expect(facts.durationMs).toBe(1500);
    expect(facts.boundMs).toBe(3000);
  });

  it("WAV: stereo 44.1 kHz, after a LIST chunk", () => {
    const facts = inspectAudio(wav({ sampleRate: 44_100, channels: 2, dataBytes: 176_400 * 2, listChunk: true }), null);
    expect(facts.durationMs).toBe(2000);
    expectBound(facts);
  });

  it("WAV: a byte rate above sample rate × block size cannot shorten PCM", () => {
    const facts = inspectAudio(wav({ sampleRate: 16_000, dataBytes: 64_000, byteRate: 64_000_000 }), null);
    expect(facts.durationMs).toBe(2000);
    expect(facts.boundMs).toBe(3000);
  });

  it("WAV: a streamed data size (0 or 0xFFFFFFFF) runs to the end", () => {
    expect(inspectAudio(wav({ dataBytes: 16_000, dataSizeField: 0 }), null).durationMs).toBe(500);
    expect(inspectAudio(wav({ dataBytes: 16_000, dataSizeField: 0xffffffff }), null).durationMs).toBe(500);
  });

  it("FLAC: exact from STREAMINFO, absent when it counts no samples", () => {
    const exact = inspectAudio(flac({ sampleRate: 48_000, totalSamples: 48_000 * 7 + 24_000 }), null);
    expect(exact.durationMs).toBe(7500);
    expect(exact.boundMs).toBe(9000);
    const unknown = inspectAudio(flac({ sampleRate: 48_000, totalSamples: 0, frameBytes: 20_000 }), null);
    expect(unknown.durationMs).toBeUndefined();
    expect(unknown.boundMs).toBeGreaterThanOrEqual(10_000);
  });

  it("MP3: a CBR 128 kbit/s estimate from the first frame", () => {
    const frames = 383; // 383 × 1152 / 44100 ≈ 10.0 s
    const facts = inspectAudio(mp3({ kbps: 128, frames }), "audio/mpeg");
    const bytes = frames * mp3FrameLength(128);
    expect(facts.durationMs).toBe(Math.round((bytes * 8) / 128));
    expect(Math.abs((facts.durationMs ?? 0) - (frames * 1152 * 1000) / 44_100)).toBeLessThan(50);
    // Not exact (a VBR file may run longer), so the hold is the size floor.
    expect(facts.boundMs).toBe(Math.ceil(bytes / 2));
    expectBound(facts);
  });

  it("MP3: exact from a Xing frame count, after an ID3 tag", () => {
    const facts = inspectAudio(mp3({ kbps: 128, frames: 5, xingFrames: 44_100, id3Bytes: 1000 }), null);
    expect(facts.durationMs).toBe((44_100 * 1152 * 1000) / 44_100);
    expect(facts.boundMs).toBe(1_153_000);
  });

  it("MP3: MPEG-2 layer III mono frames (576 samples, 72 × bitrate ÷ rate bytes)", () => {
    const frame = new Uint8Array(144); // 72 × 32,000 ÷ 16,000
    frame.set([0xff, 0xf3, 0x48, 0xc0]);
    const facts = inspectAudio(concat(...Array.from({ length: 100 }, () => frame)), null);
    expect(facts.durationMs).toBe(3600); // 100 × 576 ÷ 16,000 s
    expect(reasonOf(frame.slice(0, 143))).toBe("truncated");
  });

  it("MP3: exact from a VBRI frame count", () => {
    const first = new Uint8Array(mp3FrameLength(128));
    first.set(mp3FrameHeader(128));
    first.set([0x56, 0x42, 0x52, 0x49, 0, 1, 0, 0, 0, 50, 0, 0, 0, 0, 0, 0, 0x03, 0xe8], 36); // VBRI, 1,000 frames
    const facts = inspectAudio(concat(first, mp3({ kbps: 128, frames: 2 })), null);
    expect(facts.durationMs).toBe(Math.round((1000 * 1152 * 1000) / 44_100));
  });

  it("MP4: exact from mvhd, the size floor without it", () => {
    const timed = inspectAudio(mp4({ timescale: 44_100, duration: 44_100 * 3 }), null);
    expect(timed.durationMs).toBe(3000);
    expect(timed.boundMs).toBe(4000);
    const untimed = inspectAudio(mp4({ mdatBytes: 8000 }), null);
    expect(untimed.durationMs).toBeUndefined();
    expect(untimed.boundMs).toBeGreaterThanOrEqual(4000);
  });

  it("Ogg and WebM: no duration; the bound is bytes ÷ 2,000 per second, at least a second", () => {
    expect(inspectAudio(ogg(20_000), null).boundMs).toBeGreaterThanOrEqual(10_000);
    expect(inspectAudio(webm(50), null).boundMs).toBe(1000);
  });
});

describe("inspectAudio refusals", () => {
  it("random bytes and text are not audio", async () => {
    for (const seed of [1, 2, 3, 42, 0xdeadbeef]) {
      expect(await inspected(noise(4096, seed))).toEqual({ code: "invalid_input", details: { reason: "not_audio" } });
    }
    expect((await inspected(new TextEncoder().encode("hello, this is not audio"))).details).toEqual({
      reason: "not_audio",
    });
    expect((await inspected(new Uint8Array(0))).details).toEqual({ reason: "not_audio" });
  });

  it("a declared type naming another container is a mismatch", async () => {
    expect(await inspected(mp3({ kbps: 128, frames: 4 }), "audio/wav")).toEqual({
      code: "invalid_input",
      details: { reason: "type_mismatch", declared: "audio/wav", detected: "audio/mpeg" },
    });
    expect((await inspected(wav({ dataBytes: 100 }), "audio/ogg")).details?.reason).toBe("type_mismatch");
  });

  it("a declared type off the list is 415", async () => {
    expect((await inspected(wav({ dataBytes: 100 }), "audio/aac")).code).toBe("unsupported_media_type");
  });

  it("WAV with a 0 byte rate or channel count is not audio", async () => {
    expect((await inspected(wav({ dataBytes: 100, byteRate: 0 }))).details).toEqual({ reason: "not_audio" });
    expect((await inspected(wav({ dataBytes: 100, sampleRate: 0, byteRate: 32_000 }))).details).toEqual({
      reason: "not_audio",
    });
    expect((await inspected(wav({ dataBytes: 100, channels: 0, byteRate: 32_000 }))).details).toEqual({
      reason: "not_audio",
    });
  });

  const truncated: [string, Uint8Array][] = [
    ["WAV shorter than its RIFF header", wav({ dataBytes: 100 }).slice(0, 10)],
    ["WAV cut inside its fmt chunk", wav({ dataBytes: 100 }).slice(0, 28)],
    ["WAV with a short fmt chunk", wav({ dataBytes: 100, fmtSize: 12 })],
    ["WAV without a data chunk", wav({ dataBytes: 100 }).slice(0, 36)],
    ["WAV whose data claims more than is present", wav({ dataBytes: 32_000, presentBytes: 1000 })],
    ["FLAC cut inside STREAMINFO", flac({ sampleRate: 44_100, totalSamples: 100 }).slice(0, 30)],
    ["MP3 cut inside its first frame", mp3({ kbps: 128, frames: 1 }).slice(0, 200)],
    ["MP3 ending inside its ID3 tag", mp3({ kbps: 128, frames: 3, id3Bytes: 5000 }).slice(0, 3000)],
    ["MP3 with only an ID3 header", id3(0).slice(0, 8)],
    ["MP4 whose first box claims more than the file", box("ftyp", new Uint8Array(40)).slice(0, 30)],
    ["MP4 whose mdat is cut", mp4({ mdatBytes: 1000 }).slice(0, 500)],
    ["Ogg cut inside its first page", ogg(0).slice(0, 35)],
    ["Ogg shorter than a page header", ogg().slice(0, 20)],
    ["WebM cut inside its EBML header", webm().slice(0, 12)],
  ];
  for (const [what, bytes] of truncated) {
    it(`${what} is truncated`, async () => {
      expect(await inspected(bytes)).toEqual({ code: "invalid_input", details: { reason: "truncated" } });
    });
  }

  it("MP3 frames that do not follow one another are not audio", async () => {
    const length = mp3FrameLength(128);
    const bytes = concat(mp3FrameHeader(128), new Uint8Array(length - 4), noise(length, 7));
    bytes[length] = 0x00;
    expect((await inspected(bytes)).details).toEqual({ reason: "not_audio" });
  });
});

describe("inspectAudio is bounded on adversarial input", () => {
  const adversarial: [string, Uint8Array][] = [
    ["100 KB of 0xFF", new Uint8Array(100_000).fill(0xff)],
    ["100 KB of zeros", new Uint8Array(100_000)],
    ["an ID3 tag followed by 0xFF", concat(id3(10), new Uint8Array(100_000).fill(0xff))],
    ["an ID3 tag claiming 256 MB", concat([0x49, 0x44, 0x33, 4, 0, 0, 0x7f, 0x7f, 0x7f, 0x7f], new Uint8Array(100))],
    [
      "an ID3 tag with a non-syncsafe size",
      concat([0x49, 0x44, 0x33, 4, 0, 0, 0xff, 0xff, 0xff, 0xff], new Uint8Array(100)),
    ],
    [
      "WAV made of thousands of empty chunks",
      concat(
        wav({ dataBytes: 0 }).slice(0, 12),
        ...Array.from({ length: 10_000 }, () => [0x4a, 0x55, 0x4e, 0x4b, 0, 0, 0, 0]),
      ),
    ],
    [
      "MP4 made of thousands of empty boxes",
      concat(box("ftyp", new Uint8Array(8)), ...Array.from({ length: 10_000 }, () => box("free", []))),
    ],
    [
      "MP4 with a 64-bit box size",
      concat(
        box("ftyp", new Uint8Array(8)),
        [0, 0, 0, 1, 0x6d, 0x64, 0x61, 0x74, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
      ),
    ],
    [
      "MP4 with a box smaller than its header",
      concat(box("ftyp", new Uint8Array(8)), [0, 0, 0, 3, 0x66, 0x72, 0x65, 0x65]),
    ],
    ["WebM with an unknown-size EBML header", concat([0x1a, 0x45, 0xdf, 0xa3, 0xff], new Uint8Array(100))],
    ["WebM with an invalid size byte", concat([0x1a, 0x45, 0xdf, 0xa3, 0x00], new Uint8Array(100))],
    [
      "FLAC whose first block is not STREAMINFO",
      concat(flac({ sampleRate: 8000, totalSamples: 1 }).slice(0, 4), [0x84, 0, 0, 34], new Uint8Array(100)),
    ],
    ["FLAC with a zero sample rate", flac({ sampleRate: 0, totalSamples: 1000 })],
  ];
  for (const [what, bytes] of adversarial) {
    it(`${what} ends in a 4xx`, async () => {
      const result = await inspected(bytes);
      expect(["invalid_input", "ok"]).toContain(result.code);
    });
  }

  it("names each adversarial refusal", async () => {
    expect((await inspected(new Uint8Array(100_000).fill(0xff))).details).toEqual({ reason: "not_audio" });
    expect((await inspected(adversarial[3]![1])).details).toEqual({ reason: "truncated" });
    expect((await inspected(adversarial[5]![1])).details).toEqual({ reason: "not_audio" });
    expect((await inspected(adversarial[7]![1])).details).toEqual({ reason: "truncated" });
    expect((await inspected(adversarial[12]![1])).details).toEqual({ reason: "not_audio" });
  });
});

describe("inspectAudio on any bytes", () => {
  const valid = [
    wav({ dataBytes: 2000, listChunk: true }),
    flac({ sampleRate: 44_100, totalSamples: 44_100 }),
    mp3({ kbps: 128, frames: 3, id3Bytes: 20, xingFrames: 100 }),
    ogg(100),
    webm(100),
    mp4({ timescale: 1000, duration: 1500 }),
  ];

  /** Either facts whose bound covers their duration, or a 400/415 ServiceError — never another throw. */
  function answersSafely(bytes: Uint8Array): boolean {
    try {
      const facts = inspectAudio(bytes, null);
      return facts.boundMs >= (facts.durationMs ?? 0) && Number.isFinite(facts.boundMs);
    } catch (error) {
      const { name, code } = error as { name?: string; code?: string };
      return name === "ServiceError" && (code === "invalid_input" || code === "unsupported_media_type");
    }
  }

  it("refuses or reads every prefix and every corrupted byte of a valid file", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...valid),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        (file, cut, at, byte) => {
          const prefix = file.slice(0, cut % (file.length + 1));
          const corrupted = file.slice();
          corrupted[at % file.length] = byte;
          return answersSafely(prefix) && answersSafely(corrupted);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("refuses or reads arbitrary bytes behind each magic", () => {
    const magic = fc.constantFrom(
      [0x52, 0x49, 0x46, 0x46, 0, 0, 0, 0, 0x57, 0x41, 0x56, 0x45],
      [0x66, 0x4c, 0x61, 0x43],
      [0x4f, 0x67, 0x67, 0x53],
      [0x1a, 0x45, 0xdf, 0xa3],
      [0, 0, 0, 16, 0x66, 0x74, 0x79, 0x70],
      [0x49, 0x44, 0x33],
      [0xff, 0xfb, 0x90, 0x00],
      [],
    );
    fc.assert(
      fc.property(magic, fc.uint8Array({ maxLength: 600 }), (head, tail) => answersSafely(concat(head, tail))),
      { numRuns: 500 },
    );
  });
});
