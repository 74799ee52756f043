import { createRouter, type GatewayRouter } from "../http/router";
import { registerAdminKeyRoutes } from "./admin-keys";
import { registerAuthRoutes } from "./auth";
import { registerCreditRoutes } from "./credits";
import { registerFlagRoutes } from "./flags";
import { registerJobRoutes } from "./jobs";
import { registerRagRoutes } from "./rag";
import { registerScaffoldRoutes } from "./scaffold";
import { registerSiRoutes } from "./si";
import { registerSystemRoutes } from "./system";
import { registerUploadRoutes } from "./uploads";
import { registerVoiceRoutes } from "./voice";

/** Every route the gateway serves (tests walk this table to check each one is counted). */
export function gatewayRoutes(): GatewayRouter {
  const router = createRouter();
  registerSystemRoutes(router);
  registerAuthRoutes(router);
  registerAdminKeyRoutes(router);
  registerCreditRoutes(router);
  registerSiRoutes(router);
  registerJobRoutes(router);
  registerUploadRoutes(router);
  registerRagRoutes(router);
  registerVoiceRoutes(router);
  registerScaffoldRoutes(router);
  registerFlagRoutes(router);
  return router;
}
