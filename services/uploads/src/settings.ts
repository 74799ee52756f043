import { declareSettings, setting } from "@cognomega/shared";

/** The uploads worker's settings (docs/configuration.md is generated from this declaration). */
export const UPLOADS_SETTINGS = declareSettings("uploads", {
  UPLOAD_MAX_BYTES: setting.integer({
    // 25 MiB.
    default: 26_214_400,
    min: 1,
    max: 5_368_709_120,
    unit: "bytes",
    meaning: "The largest single upload (413 over it, refused before a byte is read).",
  }),
  UPLOAD_QUOTA_BYTES: setting.integer({
    // 256 MiB.
    default: 268_435_456,
    min: 1,
    max: Number.MAX_SAFE_INTEGER,
    unit: "bytes",
    meaning: "Bytes one tenant may keep over all of its uploads.",
  }),
  UPLOAD_QUOTA_FILES: setting.integer({
    default: 500,
    min: 1,
    max: 1_000_000,
    meaning: "Uploads one tenant may keep.",
  }),
  UPLOAD_ALLOWED_TYPES: setting.list({
    default:
      "text/plain,text/markdown,text/csv,text/html,application/json,application/pdf,application/xml,text/xml,image/png,image/jpeg,image/webp,image/gif,image/svg+xml,audio/mpeg,audio/wav,audio/webm,audio/ogg,audio/mp4,audio/flac",
    lowercase: true,
    meaning: "Content types accepted (415 for any other); HTML, SVG and XML are always served as downloads.",
  }),
});
