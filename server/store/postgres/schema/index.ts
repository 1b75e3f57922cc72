// The Postgres schema, composed from one file per slice. Table and column names
// match the SQLite schema (../../sqlite/schema/) exactly.
export * from "./agent.js";
export * from "./heartbeat.js";
export * from "./operator.js";
export * from "./track.js";
