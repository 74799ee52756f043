import { testKeyPair } from "../../scripts/test-keys.mjs";
import { workerProject } from "../../test-support/worker-project";

const signing = testKeyPair();

// Analytics runs against the run's real PostgreSQL (test-support/database.ts) through its Hyperdrive
// binding, and the real billing worker it reads usage events from.
export default workerProject(import.meta.url, "analytics", {
  aux: [
    {
      dir: "services/billing",
      bindings: {
        ENVIRONMENT: "test",
        PRIVATE_KEY_PEM: signing.privateKeyPem,
        KID: "analytics-test-1",
        DEFAULT_RPM: "100000",
      },
    },
  ],
});
