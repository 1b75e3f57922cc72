// Tracking (seed 001): one row per session with the collection-level fields, one
// row per event. UNIQUE(session, nr) makes a resent collection idempotent.
import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const trackSessions = sqliteTable(
  "track_sessions",
  {
    /** md5hex(device_id:client_id:system_version:product_version), checked on receipt. */
    session: text("session").primaryKey(),
    /** sha256hex of the device's raw id, as the client sends it. */
    deviceId: text("device_id").notNull(),
    clientId: text("client_id").notNull(),
    systemVersion: text("system_version").notNull(),
    productVersion: text("product_version").notNull(),
    system: text("system"),
    productGitHash: text("product_git_hash"),
    /** Epoch ms of the first collection seen for this session. */
    firstSeen: integer("first_seen").notNull(),
  },
  (t) => [index("track_sessions_device_id_idx").on(t.deviceId), index("track_sessions_client_id_idx").on(t.clientId)],
);

export const trackEvents = sqliteTable(
  "track_events",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    session: text("session").notNull(),
    /** Per-session serial number from the client. */
    nr: integer("nr").notNull(),
    /** The client's clock, epoch SECONDS (the Payload's `at`), not ms. */
    at: integer("at").notNull(),
    event: text("event").notNull(),
    userId: integer("user_id"),
    ip: text("ip"),
    parameters: text("parameters"),
    isTesting: integer("is_testing", { mode: "boolean" }).notNull(),
    /** Server receive time, epoch ms. */
    receivedAt: integer("received_at").notNull(),
  },
  // Every index costs each ingested row a b-tree insert, and ingest is the hot
  // path: (session, nr) makes resends idempotent and serves device and session
  // queries (through track_sessions), `at` serves time ranges and is cheap (client
  // clocks mostly move forward). There is no index on `event` (a text key put
  // rows at random places: it doubled the cost of a row) nor on received_at
  // (retention walks the table in id order, which is arrival order).
  (t) => [uniqueIndex("track_events_session_nr_uq").on(t.session, t.nr), index("track_events_at_idx").on(t.at)],
);
