// What every service implementation may use. Built once by server/app.ts.
import type { Logger } from "pino";
import type { Batcher } from "../store/batcher.js";
import type { Store } from "../store/store.js";
import type { ServerConfig } from "./config.js";
import type { Leadership } from "./leadership.js";
import type { ServerMetrics } from "./metrics.js";

export interface ServiceDeps {
  readonly config: ServerConfig;
  /** Reads go to the store directly. */
  readonly store: Store;
  /** Writes go through the batcher (group commit). */
  readonly batcher: Batcher;
  readonly logger: Logger;
  readonly metrics: ServerMetrics;
  /**
   * Whether this process runs the fleet's background jobs (several replicas on
   * one Postgres database elect one; on SQLite it always does): server/core/periodic.ts.
   */
  readonly leadership: Leadership;
  /** Epoch milliseconds; injectable so tests can move time. */
  readonly now: () => number;
}
