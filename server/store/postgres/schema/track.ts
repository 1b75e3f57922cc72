// Tracking (seed 001): one row per session with the collection-level fields, one
// row per event. Sessions are interned: an event names its session by the
// session row's id, and UNIQUE(session_id, nr) makes a resent collection idempotent.
import { sql } from "drizzle-orm";
import { bigint, boolean, customType, index, pgTable, text, uniqueIndex } from "drizzle-orm/pg-core";

/** Postgres's 64-bit transaction id (never wraps around); node-postgres reads it as decimal text. */
const xid8 = customType<{ data: string; driverData: string }>({ dataType: () => "xid8" });

export const trackSessions = pgTable(
  "track_sessions",
  {
    /** The session's number, what its events carry. */
    id: bigint("id", { mode: "number" }).primaryKey().generatedByDefaultAsIdentity(),
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
    firstSeen: bigint("first_seen", { mode: "number" }).notNull(),
  },
  (t) => [
    uniqueIndex("track_sessions_session_uq").on(t.session),
    index("track_sessions_device_id_idx").on(t.deviceId),
    index("track_sessions_client_id_idx").on(t.clientId),
  ],
);

export const trackEvents = pgTable(
  "track_events",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedByDefaultAsIdentity(),
    /** track_sessions.id of the event's session. */
    sessionId: bigint("session_id", { mode: "number" }).notNull(),
    /** Per-session serial number from the client (uint32, so bigint here). */
    nr: bigint("nr", { mode: "number" }).notNull(),
    /** The client's clock, epoch SECONDS (the Payload's `at`), not ms. */
    at: bigint("at", { mode: "number" }).notNull(),
    event: text("event").notNull(),
    /** uint32 on the wire, so bigint here. */
    userId: bigint("user_id", { mode: "number" }),
    ip: text("ip"),
    parameters: text("parameters"),
    isTesting: boolean("is_testing").notNull(),
    /** Server receive time, epoch ms. */
    receivedAt: bigint("received_at", { mode: "number" }).notNull(),
    /**
     * The id of the transaction that stored the row, filled in by Postgres. With
     * several writers ids are not commit order (a transaction may commit after
     * one that took a higher id); FollowEvents walks (xid, id) order and keeps the
     * transactions it passed while they ran (postgres/feed.ts).
     */
    xid: xid8("xid").notNull().default(sql`pg_current_xact_id()`),
  },
  // Every index costs each ingested row a b-tree insert, and ingest is the hot
  // path: (session_id, nr) makes resends idempotent and serves device and session
  // queries (through track_sessions), two integers instead of a text key, `at` serves time ranges and is cheap (client
  // clocks mostly move forward). There is no index on `event` (a text key put
  // rows at random places: it doubled the cost of a row) nor on received_at
  // (retention walks the table in id order, which is arrival order). (xid, id) is
  // the feed's commit order; its keys grow like the id's, so rows append at the
  // right edge of the index.
  (t) => [
    uniqueIndex("track_events_session_nr_uq").on(t.sessionId, t.nr),
    index("track_events_at_idx").on(t.at),
    index("track_events_commit_order_idx").on(t.xid, t.id),
  ],
);
