// Compile-time ties between the answer schemas the document publishes (shared/src/answers*.ts) and
// the types the services' methods actually return, for the answers whose type lives only in its
// service (shared cannot see a worker's types; the gateway sees them type-only, as its bindings do).
// A field added to, dropped from or typed differently in either side fails the typecheck.

import type {
  AdjustAnswer,
  CatalogAnswer,
  ChatCompletionAnswer,
  DefaultVoiceCatalogAnswer,
  DeletedAnswer,
  FlagPutAnswer,
  FlagRemoveAnswer,
  JobAnswer,
  JobView,
  ModelListAnswer,
  OpenAiTranscriptionAnswer,
  ProviderStatusAnswer,
  ProviderTestAnswer,
  PublicJwk,
  PublishedKeyAnswer,
  QueuedJobAnswer,
  RagIngestAnswer,
  RetiredKeyAnswer,
  RollupAnswer,
  RollupStatusAnswer,
  StoredCatalogAnswer,
  StoredVoiceCatalogAnswer,
  UsageSummaryAnswer,
  VoiceCatalogAnswer,
} from "@cognomega/shared";
import type { InferOutput } from "valibot";
import type { AnalyticsService } from "../../../services/analytics/src/index";
import type { BillingService } from "../../../services/billing/src/index";
import type { FlagsService } from "../../../services/flags/src/index";
import type { RagService } from "../../../services/rag/src/index";
import type { ScaffoldService } from "../../../services/scaffold/src/index";
import type { SiService } from "../../../services/si/src/index";
import type { chatCompletion } from "../../../services/si/src/openai";
import type { UploadsService } from "../../../services/uploads/src/index";
import type { VoiceService } from "../../../services/voice/src/index";
import type { openAiTranscription } from "../../../services/voice/src/openai";

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** What a service method resolves to. */
type Returns<F> = F extends (...args: never[]) => Promise<infer R> ? R : never;
/** An open (`looseObject`) answer's named fields, all the way down, without the index signatures. */
type Known<T> = T extends readonly (infer U)[]
  ? Known<U>[]
  : T extends object
    ? { [K in keyof T as string extends K ? never : K]: Known<T[K]> }
    : T;
type Out<S> = InferOutput<S extends import("valibot").GenericSchema ? S : never>;

const checks = {
  providerStatus: true satisfies Same<Out<typeof ProviderStatusAnswer>, Returns<SiService["providerStatus"]>>,
  providerTest: true satisfies Same<Out<typeof ProviderTestAnswer>, Returns<SiService["testProviders"]>>,
  catalog: true satisfies Same<Out<typeof CatalogAnswer>, Returns<SiService["getCatalog"]>>,
  catalogReset: true satisfies Same<Out<typeof CatalogAnswer>, Returns<SiService["resetCatalog"]>>,
  catalogStored: true satisfies Same<Out<typeof StoredCatalogAnswer>, Returns<SiService["setCatalog"]>>,
  models: true satisfies Same<Known<Out<typeof ModelListAnswer>>, Returns<SiService["listModels"]>>,
  chat: true satisfies Same<Known<Out<typeof ChatCompletionAnswer>>, ReturnType<typeof chatCompletion>>,
  ragIngest: true satisfies Same<Out<typeof RagIngestAnswer>, Returns<RagService["ingest"]>>,
  ragRemove: true satisfies Same<Out<typeof DeletedAnswer>, Returns<RagService["remove"]>>,
  uploadRemove: true satisfies Same<Out<typeof DeletedAnswer>, Returns<UploadsService["remove"]>>,
  scaffoldRemove: true satisfies Same<Out<typeof DeletedAnswer>, Returns<ScaffoldService["remove"]>>,
  voiceCatalog: true satisfies Same<Out<typeof VoiceCatalogAnswer>, Returns<VoiceService["getCatalog"]>>,
  voiceCatalogStored: true satisfies Same<Out<typeof StoredVoiceCatalogAnswer>, Returns<VoiceService["setCatalog"]>>,
  voiceCatalogReset: true satisfies Same<Out<typeof DefaultVoiceCatalogAnswer>, Returns<VoiceService["resetCatalog"]>>,
  transcription: true satisfies Same<
    Known<Out<typeof OpenAiTranscriptionAnswer>>,
    Known<Exclude<ReturnType<typeof openAiTranscription>["body"], string>>
  >,
  flagPut: true satisfies Same<Out<typeof FlagPutAnswer>, Returns<FlagsService["put"]>>,
  flagRemove: true satisfies Same<Out<typeof FlagRemoveAnswer>, Returns<FlagsService["remove"]>>,
  rollup: true satisfies Same<Out<typeof RollupAnswer>, Returns<AnalyticsService["rollup"]>>,
  usageSummary: true satisfies Same<Out<typeof UsageSummaryAnswer>, Returns<AnalyticsService["usage"]>>,
  rollups: true satisfies Same<Out<typeof RollupStatusAnswer>, Returns<AnalyticsService["rollups"]>>,
  retired: true satisfies Same<Out<typeof RetiredKeyAnswer>, Returns<BillingService["retireKey"]>>,
  published: true satisfies Same<Out<typeof PublishedKeyAnswer>, { published: Returns<BillingService["publishKey"]> }>,
  publishedKey: true satisfies Same<Out<typeof PublishedKeyAnswer>["published"], PublicJwk>,
  adjust: true satisfies Same<Out<typeof AdjustAnswer>, Returns<BillingService["adjust"]>>,
  // `input` is `unknown` on both sides (see JobAnswer's own check).
  queued: true satisfies Same<
    Omit<Out<typeof QueuedJobAnswer>, "job"> & { job: Omit<Out<typeof JobAnswer>, "input"> },
    { queued: true; job: Omit<JobView, "input"> }
  >,
} as const;

/** Compile-time checks only; exported so they are not unused. */
export const SERVICE_ANSWER_SCHEMAS_MATCH_TYPES: Record<keyof typeof checks, true> = checks;
