// The simulated fleet of the agent benchmark: device i has the id and token below,
// known to the benchmark server (which seeds them straight into SQLite) and to the
// load generator (which sends their heartbeats), so no HTTP registration is needed
// for a million devices.
import { createHash } from "node:crypto";

export const fleetDeviceId = (i: number): string => `bench-dev-${i.toString(16).padStart(8, "0")}`;

/** 64 characters, like a real token (deterministic, so both processes agree). */
export const fleetToken = (i: number): string => createHash("sha256").update(`fleet-token-${i}`).digest("hex");
