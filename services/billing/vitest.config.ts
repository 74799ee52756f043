import { testKeyPair } from "../../scripts/test-keys.mjs";
import { workerProject } from "../../test-support/worker-project";

const signing = testKeyPair();

export default workerProject(import.meta.url, "billing", {
  bindings: {
    ENVIRONMENT: "test",
    PRIVATE_KEY_PEM: signing.privateKeyPem,
    KID: "billing-test-1",
    TEST_PUBLIC_KEY_PEM: signing.publicKeyPem,
  },
});
