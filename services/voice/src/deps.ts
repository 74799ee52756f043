import type { CreditLine, VoiceCatalogEntry, VoiceProviderId } from "@cognomega/shared";
import type { VoiceSettings } from "./config";
import type { VoiceProvider } from "./providers/types";

/** What one voice call runs with: settings, providers, its credit line and the catalog in force. */
export interface VoiceDeps {
  settings: VoiceSettings;
  providers: Record<VoiceProviderId, VoiceProvider>;
  /** Where the call's holds come from (the account's allowance in this instance). */
  credits: CreditLine;
  catalog: () => Promise<{ models: VoiceCatalogEntry[] }>;
  routing: { budgetMs: number; attemptTimeoutMs: number };
  /** Work that must finish after the answer has gone (a cut stream's settlement). */
  waitUntil: (promise: Promise<unknown>) => void;
}
