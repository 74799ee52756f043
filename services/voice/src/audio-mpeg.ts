// MPEG audio (MP3) frames: the header check that recognises an MP3, and its duration.
import { type AudioFacts, ascii, facts, refused, u32be } from "./audio";

/** How far past an ID3 tag the first MPEG frame may start (encoders pad the tag with zeros). */
const MAX_ID3_PADDING = 4_096;

// Kilobits per second by [version is MPEG-1][layer 1..3][index]; index 0 (free) and 15 are refused.
const MPEG1_KBPS = [
  [0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448],
  [0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384],
  [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
];
const MPEG2_KBPS = [
  [0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256],
  [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
  [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
];
const SAMPLE_RATES: Record<number, number[]> = {
  3: [44100, 48000, 32000],
  2: [22050, 24000, 16000],
  0: [11025, 12000, 8000],
};

interface MpegFrame {
  version: number;
  layer: number;
  sampleRate: number;
  kbps: number;
  length: number;
  samples: number;
  mono: boolean;
}

/** The MPEG audio frame header at `at`, or null when the 4 bytes there are not a valid one. */
export function mpegFrameAt(b: Uint8Array, at: number): MpegFrame | null {
  if (at + 4 > b.length || b[at] !== 0xff || ((b[at + 1] ?? 0) & 0xe0) !== 0xe0) return null;
  const b1 = b[at + 1] ?? 0;
  const b2 = b[at + 2] ?? 0;
  const b3 = b[at + 3] ?? 0;
  const version = (b1 >> 3) & 3; // 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5, 1: reserved.
  const layerBits = (b1 >> 1) & 3; // 3: layer I, 2: II, 1: III, 0: reserved.
  const bitrateIndex = b2 >> 4;
  const rateIndex = (b2 >> 2) & 3;
  if (version === 1 || layerBits === 0 || bitrateIndex === 0 || bitrateIndex === 15 || rateIndex === 3) return null;
  if ((b3 & 3) === 2) return null; // Reserved emphasis.
  const layer = 4 - layerBits;
  const kbps = (version === 3 ? MPEG1_KBPS : MPEG2_KBPS)[layer - 1]?.[bitrateIndex] ?? 0;
  const sampleRate = SAMPLE_RATES[version]?.[rateIndex] ?? 0;
  if (kbps === 0 || sampleRate === 0) return null;
  const padding = (b2 >> 1) & 1;
  const samples = layer === 1 ? 384 : layer === 3 && version !== 3 ? 576 : 1152;
  const length =
    layer === 1
      ? (Math.floor((12_000 * kbps) / sampleRate) + padding) * 4
      : Math.floor(((samples / 8) * 1_000 * kbps) / sampleRate) + padding;
  return { version, layer, sampleRate, kbps, length, samples, mono: b3 >> 6 === 3 };
}

/** The frame count a Xing/Info or VBRI header in the first frame states, if it has one. */
function vbrFrameCount(b: Uint8Array, at: number, frame: MpegFrame): number | undefined {
  if (frame.layer !== 3) return undefined;
  const sideInfo = frame.version === 3 ? (frame.mono ? 17 : 32) : frame.mono ? 9 : 17;
  const xing = at + 4 + sideInfo;
  if ((ascii(b, xing, "Xing") || ascii(b, xing, "Info")) && xing + 12 <= at + frame.length) {
    if ((u32be(b, xing + 4) & 1) === 1) return u32be(b, xing + 8);
    return undefined;
  }
  const vbri = at + 36;
  if (ascii(b, vbri, "VBRI") && vbri + 18 <= at + frame.length) return u32be(b, vbri + 14);
  return undefined;
}

/** An MP3's facts: its first frame checked against the next, its duration from a Xing/VBRI count or its bit rate. */
export function parseMp3(b: Uint8Array): AudioFacts {
  let start = 0;
  if (ascii(b, 0, "ID3")) {
    if (b.length < 10) throw refused("truncated", "the MP3 file ends inside its ID3 tag header");
    let size = 0;
    for (let i = 6; i < 10; i++) {
      const byte = b[i] ?? 0;
      if (byte > 0x7f) throw refused("not_audio", "the ID3 tag size is not syncsafe");
      size = size * 128 + byte;
    }
    start = 10 + size + (((b[5] ?? 0) & 0x10) !== 0 ? 10 : 0);
    if (start + 4 > b.length) throw refused("truncated", "the MP3 file ends inside or right after its ID3 tag");
  }
  let at = start;
  const scanEnd = start === 0 ? 0 : Math.min(b.length - 4, start + MAX_ID3_PADDING);
  let frame = mpegFrameAt(b, at);
  while (frame === null && at < scanEnd) frame = mpegFrameAt(b, ++at);
  if (frame === null) throw refused("not_audio", "no MPEG audio frame where the MP3 should start");
  if (at + frame.length > b.length)
    throw refused("truncated", `the first MP3 frame needs ${frame.length} bytes but ${b.length - at} are present`);
  // A second header, when the bytes reach it, must continue the first: a lone 0xFFE sync in
  // random bytes rarely does.
  const next = at + frame.length;
  if (next + 4 <= b.length && !ascii(b, next, "TAG")) {
    const second = mpegFrameAt(b, next);
    if (!second || second.version !== frame.version || second.layer !== frame.layer)
      throw refused("not_audio", "the MP3 frames do not follow one another");
  }
  const frames = vbrFrameCount(b, at, frame);
  if (frames !== undefined && frames > 0)
    return facts("mp3", b.length, Math.round((frames * frame.samples * 1_000) / frame.sampleRate));
  // Without a frame count, assume the first frame's bitrate throughout (exact for CBR). VBR may be
  // longer, so the hold stays on the size floor.
  const tail = b.length >= 128 && ascii(b, b.length - 128, "TAG") ? 128 : 0;
  const audioBytes = b.length - at - tail;
  return facts("mp3", b.length, Math.round((audioBytes * 8) / frame.kbps), "estimate");
}
