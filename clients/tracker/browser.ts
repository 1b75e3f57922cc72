// Browser entry point: everything in index.ts plus Web Storage persistence. Nothing
// reachable from here imports a Node module.
export * from "./index.js";
export { WebStorage, type WebStorageArea } from "./web-storage.js";
