import type { HoldingLedger, VoiceCatalogEntry, VoiceProviderId } from "@cognomega/shared";
import type { VoiceSettings } from "./config";
import type { VoiceProvider } from "./providers/types";

/** What one voice call runs with: settings, providers, the ledger and the catalog in force. */
export interface VoiceDeps {
  settings: VoiceSettings;
  providers: Record<VoiceProviderId, VoiceProvider>;
  billing: HoldingLedger;
  catalog: () => Promise<{ models: VoiceCatalogEntry[] }>;
  routing: { budgetMs: number; attemptTimeoutMs: number };
  /** Work that must finish after the answer has gone (a cut stream's settlement). */
  waitUntil: (promise: Promise<unknown>) => void;
}
