// Update heartbeat (seed 000): one row per installation, raw heartbeats kept for a
// retention period, a daily rollup for history, and the newest version per
// product and channel.
import { bigint, index, integer, pgTable, primaryKey, text } from "drizzle-orm/pg-core";

export const hbInstallations = pgTable(
  "hb_installations",
  {
    machineId: text("machine_id").notNull(),
    hbId: text("hb_id").notNull(),
    product: text("product").notNull(),
    channel: text("channel").notNull(),
    /** The versionInfo last reported, as text. */
    version: text("version").notNull(),
    osType: text("os_type").notNull(),
    osVersion: text("os_version").notNull(),
    country: text("country").notNull(),
    region: text("region").notNull(),
    firstSeen: bigint("first_seen", { mode: "number" }).notNull(),
    lastSeen: bigint("last_seen", { mode: "number" }).notNull(),
    /** Heartbeats received from this installation, ever. */
    heartbeats: bigint("heartbeats", { mode: "number" }).notNull().default(0),
  },
  (t) => [
    primaryKey({ columns: [t.machineId, t.hbId] }),
    index("hb_installations_last_seen_idx").on(t.lastSeen),
    index("hb_installations_product_last_seen_idx").on(t.product, t.lastSeen),
  ],
);

export const hbHeartbeats = pgTable(
  "hb_heartbeats",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedByDefaultAsIdentity(),
    machineId: text("machine_id").notNull(),
    hbId: text("hb_id").notNull(),
    receivedAt: bigint("received_at", { mode: "number" }).notNull(),
    version: text("version").notNull(),
    osType: text("os_type").notNull(),
    osVersion: text("os_version").notNull(),
    country: text("country").notNull(),
    region: text("region").notNull(),
  },
  (t) => [index("hb_heartbeats_machine_id_idx").on(t.machineId), index("hb_heartbeats_received_at_idx").on(t.receivedAt)],
);

export const hbDaily = pgTable(
  "hb_daily",
  {
    /** UTC day, 'YYYY-MM-DD'. */
    day: text("day").notNull(),
    machineId: text("machine_id").notNull(),
    hbId: text("hb_id").notNull(),
    product: text("product").notNull(),
    /** The version last reported that day. */
    version: text("version").notNull(),
    osType: text("os_type").notNull(),
    osVersion: text("os_version").notNull(),
    heartbeats: integer("heartbeats").notNull().default(0),
  },
  (t) => [
    primaryKey({ columns: [t.day, t.machineId, t.hbId] }),
    index("hb_daily_machine_id_idx").on(t.machineId),
    index("hb_daily_day_product_idx").on(t.day, t.product),
  ],
);

export const hbReleases = pgTable(
  "hb_releases",
  {
    product: text("product").notNull(),
    channel: text("channel").notNull(),
    version: text("version").notNull(),
    /** What installations outside the rollout keep being offered. */
    previousVersion: text("previous_version"),
    /** 0-100: share of installations offered `version`, chosen stably by hb_id. */
    rolloutPercent: integer("rollout_percent").notNull().default(100),
    updatedAt: bigint("updated_at", { mode: "number" }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.product, t.channel] })],
);

/**
 * The release audit log: one row per change to a release (later also to plans,
 * pins and gates, and per automatic pause, advance or rollback), written in the
 * transaction of the change. `action` is an open list ("set", "delete" today).
 * Kept for --release-audit-retention-days.
 */
export const releaseAudit = pgTable(
  "release_audit",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedByDefaultAsIdentity(),
    at: bigint("at", { mode: "number" }).notNull(),
    product: text("product").notNull(),
    channel: text("channel").notNull(),
    action: text("action").notNull(),
    /** "operator" | "gate" | "system". */
    actorKind: text("actor_kind").notNull(),
    /** The operator key's id; "" for a gate or the system. */
    actorId: text("actor_id").notNull(),
    /** The operator key's name at the time of the change, or the gate's or job's name. */
    actorName: text("actor_name").notNull(),
    /** JSON of the release row before and after the change; null when there was (is) none. */
    beforeJson: text("before_json"),
    afterJson: text("after_json"),
    /** Free JSON about the change (a gate's numbers); null when none. */
    detailJson: text("detail_json"),
  },
  (t) => [index("release_audit_at_idx").on(t.at, t.id), index("release_audit_product_at_idx").on(t.product, t.at, t.id)],
);

/**
 * Yanked versions: never offered to any installation of the product (on every
 * channel) until unyanked. Written with a release audit entry ("yank").
 */
export const hbYanks = pgTable(
  "hb_yanks",
  {
    product: text("product").notNull(),
    version: text("version").notNull(),
    yankedAt: bigint("yanked_at", { mode: "number" }).notNull(),
    /** "operator" | "gate" | "system", with the key's id and name at the time (as in release_audit). */
    actorKind: text("actor_kind").notNull(),
    actorId: text("actor_id").notNull(),
    actorName: text("actor_name").notNull(),
  },
  (t) => [primaryKey({ columns: [t.product, t.version] })],
);

/**
 * Active rollbacks: installations of the product on `from_version` (on
 * `channel`; every channel when it is "") are offered the lower `to_version`
 * as a downgrade. Written with a release audit entry ("rollback").
 */
export const hbRollbacks = pgTable(
  "hb_rollbacks",
  {
    product: text("product").notNull(),
    fromVersion: text("from_version").notNull(),
    /** "" applies to every channel of the product. */
    channel: text("channel").notNull(),
    toVersion: text("to_version").notNull(),
    createdAt: bigint("created_at", { mode: "number" }).notNull(),
    actorKind: text("actor_kind").notNull(),
    actorId: text("actor_id").notNull(),
    actorName: text("actor_name").notNull(),
  },
  (t) => [primaryKey({ columns: [t.product, t.fromVersion, t.channel] })],
);
