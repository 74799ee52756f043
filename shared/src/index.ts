export * from "./auth";
export * from "./credits";
export * from "./errors";
export * from "./identity";
export * from "./meter";
export * from "./si";
export * from "./usage";
export * from "./validation";
