import { testKeyPair } from "../scripts/test-keys.mjs";
import { FAKE_CARTESIA_BINDINGS, FAKE_CARTESIA_HOST, fakeCartesia } from "../test-support/fake-cartesia";
import { FAKE_PROVIDER_BINDINGS, fakeProvider } from "../test-support/fake-provider";
import { workerProject } from "../test-support/worker-project";

// The gateway is tested against the real internal workers, run as auxiliary workers with the
// bindings of their own wrangler.jsonc. Only the AI providers are fake: SI's outbound HTTP goes to a
// fake OpenAI-compatible server (test-support/fake-provider.ts), voice's to a fake Cartesia
// (test-support/fake-cartesia.ts). Voice has no AI binding here, so Cartesia is its only provider.
const signing = testKeyPair();

export default workerProject(import.meta.url, "gateway", {
  bindings: {
    ADMIN_KEY: "test-admin-key-current",
    ADMIN_KEY_PREVIOUS: "test-admin-key-previous",
    ALLOWED_ORIGINS: "https://app.example.com, http://localhost:5173",
    MAX_JSON_BYTES: "4096",
    TEST_PRIVATE_KEY_PEM: signing.privateKeyPem,
    TEST_PUBLIC_KEY_PEM: signing.publicKeyPem,
    TEST_KID: "gateway-test-1",
    // Every request loads the flag set, so a test sees an admin's change at once; the cache's own
    // tests set a TTL through gatewayWith.
    FLAGS_CACHE_TTL_SECONDS: "0",
  },
  aux: [
    {
      dir: "services/billing",
      bindings: { ENVIRONMENT: "test", PRIVATE_KEY_PEM: signing.privateKeyPem, KID: "gateway-test-1" },
    },
    {
      dir: "services/si",
      // Gates (si.models here, rag.hybrid, scaffold.enabled) read the flag set on every call.
      bindings: { ...FAKE_PROVIDER_BINDINGS, SI_ATTEMPT_TIMEOUT_MS: "2000", FLAGS_CACHE_TTL_SECONDS: "0" },
      options: { outboundService: fakeProvider },
    },
    { dir: "services/advisor" },
    { dir: "services/jobs", bindings: { JOBS_MAX_PENDING: "3" } },
    // Small quotas, so the quota tests reach them; no other test keeps more per tenant.
    {
      dir: "services/uploads",
      bindings: { UPLOAD_MAX_BYTES: "262144", UPLOAD_QUOTA_BYTES: "400000", UPLOAD_QUOTA_FILES: "3" },
    },
    { dir: "services/rag", bindings: { RAG_QUOTA_DOCS: "3", FLAGS_CACHE_TTL_SECONDS: "0" } },
    {
      dir: "services/voice",
      bindings: {
        ...FAKE_CARTESIA_BINDINGS,
        VOICE_LATENCY_BUDGET_MS: "5000",
        VOICE_ATTEMPT_TIMEOUT_MS: "2000",
        VOICE_MAX_AUDIO_BYTES: "65536",
        VOICE_MAX_CHARS: "2000",
        // Allowances released when a call ends, so a ledger read after it sees no hold.
        VOICE_ALLOWANCE_IDLE_MS: "0",
      },
      // Voice reaches SI over RPC, so Cartesia is the only host it calls.
      options: {
        outboundService: (request: Request) =>
          new URL(request.url).host === FAKE_CARTESIA_HOST ? fakeCartesia(request) : fakeProvider(request),
      },
    },
    { dir: "services/scaffold", bindings: { FLAGS_CACHE_TTL_SECONDS: "0" } },
    // Reaches the run's PostgreSQL (test-support/database.ts) through its Hyperdrive binding.
    { dir: "services/analytics" },
    // A short TTL so a test sees an admin's change without waiting out the default 30 s.
    { dir: "services/flags", bindings: { FLAGS_CACHE_TTL_SECONDS: "0" } },
  ],
  // The contract fuzzer's seed and size (test/fuzz/fuzz.test.ts): FUZZ_SEED=… FUZZ_RUNS=… replays a run.
  provide: {
    fuzz: { seed: process.env.FUZZ_SEED ?? "", runs: process.env.FUZZ_RUNS ?? "", only: process.env.FUZZ_ONLY ?? "" },
  },
});
