// Audio files built byte by byte from their format specs, so every test states what its bytes are.

const ascii = (text: string): number[] => [...text].map((c) => c.charCodeAt(0));
const le16 = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff];
const le32 = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
const be32 = (n: number): number[] => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];

/** Concatenates byte lists and arrays. */
export function concat(...parts: (readonly number[] | Uint8Array)[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** A PCM WAV: RIFF header, fmt chunk, optional extra chunk, data chunk (its size field overridable). */
export function wav(options: {
  sampleRate?: number;
  channels?: number;
  bitsPerSample?: number;
  dataBytes: number;
  /** What the data chunk's size field says (default: the true size). */
  dataSizeField?: number;
  /** How many of the data bytes are actually present (default: all). */
  presentBytes?: number;
  byteRate?: number;
  fmtSize?: number;
  listChunk?: boolean;
}): Uint8Array {
  const sampleRate = options.sampleRate ?? 16_000;
  const channels = options.channels ?? 1;
  const bits = options.bitsPerSample ?? 16;
  const blockAlign = (channels * bits) / 8;
  const byteRate = options.byteRate ?? sampleRate * blockAlign;
  const fmtBody = [
    ...le16(1),
    ...le16(channels),
    ...le32(sampleRate),
    ...le32(byteRate),
    ...le16(blockAlign),
    ...le16(bits),
  ];
  const fmtSize = options.fmtSize ?? 16;
  const fmt = [...ascii("fmt "), ...le32(fmtSize), ...fmtBody.slice(0, fmtSize)];
  const list = options.listChunk ? [...ascii("LIST"), ...le32(5), ...ascii("INFOx"), 0] : [];
  const present = options.presentBytes ?? options.dataBytes;
  const data = [...ascii("data"), ...le32(options.dataSizeField ?? options.dataBytes)];
  const samples = new Uint8Array(present);
  const riffSize = 4 + fmt.length + list.length + data.length + present;
  return concat(ascii("RIFF"), le32(riffSize), ascii("WAVE"), fmt, list, data, samples);
}

/** A FLAC file: `fLaC`, a STREAMINFO block, and some frame bytes. */
export function flac(options: {
  sampleRate: number;
  totalSamples: number;
  channels?: number;
  frameBytes?: number;
}): Uint8Array {
  const info = new Uint8Array(34);
  const view = new DataView(info.buffer);
  view.setUint16(0, 4096);
  view.setUint16(2, 4096);
  const channels = (options.channels ?? 1) - 1;
  const bits = 16 - 1;
  info[10] = (options.sampleRate >>> 12) & 0xff;
  info[11] = (options.sampleRate >>> 4) & 0xff;
  info[12] = ((options.sampleRate & 0x0f) << 4) | (channels << 1) | (bits >>> 4);
  info[13] = ((bits & 0x0f) << 4) | (Math.floor(options.totalSamples / 2 ** 32) & 0x0f);
  view.setUint32(14, options.totalSamples >>> 0);
  // Last-metadata-block flag set, type 0 (STREAMINFO), length 34.
  return concat(ascii("fLaC"), [0x80, 0, 0, 34], info, new Uint8Array(options.frameBytes ?? 64).fill(0x11));
}

/** An MPEG-1 Layer III frame header: 44.1 kHz, the given bitrate (kbit/s), stereo, no padding. */
export function mp3FrameHeader(kbps: number): number[] {
  const index = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320].indexOf(kbps);
  if (index < 1) throw new Error(`no MPEG-1 layer III bitrate ${kbps}`);
  return [0xff, 0xfb, (index << 4) | (0 << 2), 0x00];
}

/** Bytes in one MPEG-1 Layer III frame at 44.1 kHz without padding. */
export function mp3FrameLength(kbps: number): number {
  return Math.floor((144_000 * kbps) / 44_100);
}

/** An MP3 of `frames` CBR frames, optionally after an ID3v2 tag and with a Xing frame first. */
export function mp3(options: { kbps: number; frames: number; id3Bytes?: number; xingFrames?: number }): Uint8Array {
  const length = mp3FrameLength(options.kbps);
  const frame = (): Uint8Array => {
    const bytes = new Uint8Array(length);
    bytes.set(mp3FrameHeader(options.kbps));
    return bytes;
  };
  const parts: (number[] | Uint8Array)[] = [];
  if (options.id3Bytes !== undefined) parts.push(id3(options.id3Bytes));
  if (options.xingFrames !== undefined) {
    const xing = frame();
    // Stereo MPEG-1: 32 bytes of side information, then `Xing`, flags (frames present), the count.
    xing.set([...ascii("Xing"), ...be32(1), ...be32(options.xingFrames)], 4 + 32);
    parts.push(xing);
  }
  for (let i = 0; i < options.frames; i++) parts.push(frame());
  return concat(...parts);
}

/** An ID3v2.4 tag of `size` body bytes (zeros), its size syncsafe. */
export function id3(size: number): Uint8Array {
  const syncsafe = [(size >>> 21) & 0x7f, (size >>> 14) & 0x7f, (size >>> 7) & 0x7f, size & 0x7f];
  return concat(ascii("ID3"), [4, 0, 0], syncsafe, new Uint8Array(size));
}

/** An Ogg file: one page with an `OpusHead` packet, then padding. */
export function ogg(extraBytes = 200): Uint8Array {
  const packet = concat(ascii("OpusHead"), [1, 1, 0x38, 0x01], le32(48_000), [0, 0, 0]);
  const header = concat(ascii("OggS"), [0, 2], new Uint8Array(8), le32(1), le32(0), le32(0), [1, packet.length]);
  return concat(header, packet, new Uint8Array(extraBytes));
}

/** A WebM file: an EBML header naming the `webm` doctype, then a Segment's first bytes. */
export function webm(extraBytes = 200): Uint8Array {
  const docType = [0x42, 0x82, 0x84, ...ascii("webm")];
  const body = [0x42, 0x86, 0x81, 1, ...docType];
  return concat(
    [0x1a, 0x45, 0xdf, 0xa3, 0x80 | body.length],
    body,
    [0x18, 0x53, 0x80, 0x67, 0x01, 0xff],
    new Uint8Array(extraBytes),
  );
}

/** A box: big-endian size, type, body. */
export function box(type: string, body: number[] | Uint8Array): Uint8Array {
  return concat(be32(8 + body.length), ascii(type), body);
}

/** An M4A: `ftyp`, `moov` with an `mvhd` stating the duration (when given), and an `mdat`. */
export function mp4(options: { timescale?: number; duration?: number; mdatBytes?: number } = {}): Uint8Array {
  const ftyp = box("ftyp", [...ascii("M4A "), ...be32(0), ...ascii("isomM4A ")]);
  const mvhd = box("mvhd", [
    0,
    0,
    0,
    0,
    ...be32(0),
    ...be32(0),
    ...be32(options.timescale ?? 1000),
    ...be32(options.duration ?? 0),
    ...new Array(80).fill(0),
  ]);
  const moov = box("moov", mvhd);
  const mdat = box("mdat", new Uint8Array(options.mdatBytes ?? 256));
  return concat(ftyp, moov, mdat);
}

/** Deterministic pseudo-random bytes (xorshift), so a failure reproduces. */
export function noise(length: number, seed = 0x9e3779b9): Uint8Array {
  const out = new Uint8Array(length);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    out[i] = state & 0xff;
  }
  return out;
}

/** A body stream of `chunks` that records whether it was cancelled and how many chunks were pulled. */
export function observedStream(chunks: Uint8Array[]): {
  stream: ReadableStream<Uint8Array>;
  cancelled: () => boolean;
  pulled: () => number;
} {
  let cancelled = false;
  let pulled = 0;
  const queue = [...chunks];
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        const next = queue.shift();
        if (next === undefined) controller.close();
        else {
          pulled++;
          controller.enqueue(next);
        }
      },
      cancel() {
        cancelled = true;
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, cancelled: () => cancelled, pulled: () => pulled };
}

/** A stream of `bytes` cut into chunks of `size`. */
export function chunked(bytes: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += size) out.push(bytes.slice(at, at + size));
  return out;
}
