// Node entry point: everything in index.ts plus the crash-safe file log.
export * from "./index.js";
export { FileStorage, type FileStorageOptions } from "./file-storage.js";
