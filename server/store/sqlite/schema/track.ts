// Tracking (seed 001): one row per session with the collection-level fields, one
// row per event. Sessions are interned: an event names its session by the
// session row's integer id, and UNIQUE(session_id, nr) makes a resent collection
// idempotent (bench/README.md: "The tracking layout").
import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const trackSessions = sqliteTable(
  "track_sessions",
  {
    /** The session's number, what its events carry (the rowid). */
    id: integer("id").primaryKey(),
    /** md5hex(device_id:client_id:system_version:product_version), checked on receipt. */
    session: text("session").notNull(),
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
  (t) => [
    uniqueIndex("track_sessions_session_uq").on(t.session),
    index("track_sessions_device_id_idx").on(t.deviceId),
    index("track_sessions_client_id_idx").on(t.clientId),
  ],
);

export const trackEvents = sqliteTable(
  "track_events",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    /** track_sessions.id of the event's session. */
    sessionId: integer("session_id").notNull(),
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
  // path. Rows append in id order; (session_id, nr) makes resends idempotent and
  // serves device and session queries (through track_sessions): two integers, so
  // a collection's keys sit side by side in small pages (a text session key put
  // each row at a random place in an index twice as large). `at` serves time
  // ranges and is cheap (client clocks mostly move forward). There is no index on
  // `event` (a text key put rows at random places: it doubled the cost of a row)
  // nor on received_at (retention walks the table in id order, which is arrival order).
  (t) => [uniqueIndex("track_events_session_nr_uq").on(t.sessionId, t.nr), index("track_events_at_idx").on(t.at)],
);
