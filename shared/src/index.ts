export * from "./auth";
export * from "./errors";
export * from "./identity";
export * from "./meter";
export * from "./validation";
export * from "./credits";
export * from "./usage";
