// Endpoint agent (seed 002): devices with the hashes of their current and
// previous token, operator labels, and commands with their delivery state.
import { sql } from "drizzle-orm";
import { bigint, boolean, index, integer, pgTable, primaryKey, text } from "drizzle-orm/pg-core";
import { campaignStates, campaignTargets, commandStates } from "../../enums.js";

export const agentDevices = pgTable(
  "agent_devices",
  {
    /** X-DI-DEVICEID (≤ 64 chars). */
    deviceId: text("device_id").primaryKey(),
    devicename: text("devicename").notNull(),
    ip: text("ip").notNull(),
    macaddress: text("macaddress").notNull(),
    os: text("os").notNull(),
    /** sha256hex of the current token; the token itself is never stored. */
    tokenHash: text("token_hash").notNull(),
    tokenExpiresAt: bigint("token_expires_at", { mode: "number" }).notNull(),
    /** sha256hex of the token answered before the current one (a device may have missed our answer). */
    previousTokenHash: text("previous_token_hash"),
    /** The previous token counts until then, and only until the device uses its current one (cleared then). */
    previousTokenExpiresAt: bigint("previous_token_expires_at", { mode: "number" }),
    registeredAt: bigint("registered_at", { mode: "number" }).notNull(),
    updatedAt: bigint("updated_at", { mode: "number" }).notNull(),
    lastSeen: bigint("last_seen", { mode: "number" }),
  },
  // No index on last_seen: every heartbeat writes it, and an index entry would
  // move on each write (two more random pages per heartbeat, the hottest write of
  // the server). Online/offline listings filter while walking the device id order.
  // No index on token_hash either: tokens are always checked by device id.
  // Device id and name in byte order (COLLATE "C", what the reads' bytewise
  // compares; the primary key has the database's collation): listings page in
  // device id order, and a name or id prefix is a range on one of them.
  (t) => [
    index("agent_devices_os_idx").on(t.os),
    index("agent_devices_device_id_bytes_idx").on(sql`${t.deviceId} COLLATE "C"`),
    index("agent_devices_devicename_bytes_idx").on(sql`${t.devicename} COLLATE "C"`),
  ],
);

export const agentDeviceLabels = pgTable(
  "agent_device_labels",
  {
    deviceId: text("device_id").notNull(),
    label: text("label").notNull(),
  },
  // (label, device_id): a label campaign walks one label's devices in device id order.
  (t) => [primaryKey({ columns: [t.deviceId, t.label] }), index("agent_device_labels_label_device_idx").on(t.label, t.deviceId)],
);

export const agentCommands = pgTable(
  "agent_commands",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedByDefaultAsIdentity(),
    deviceId: text("device_id").notNull(),
    /** 1 start event recording, 2 stop event recording; open-ended. */
    type: integer("type").notNull(),
    content: text("content").notNull(),
    state: text("state", { enum: commandStates }).notNull(),
    createdAt: bigint("created_at", { mode: "number" }).notNull(),
    /** After this the command expires unless a result came back. */
    deadline: bigint("deadline", { mode: "number" }).notNull(),
    /** First delivery. */
    deliveredAt: bigint("delivered_at", { mode: "number" }),
    /** Latest delivery (redelivered while no result arrives: at-least-once). */
    lastDeliveredAt: bigint("last_delivered_at", { mode: "number" }),
    deliveryCount: integer("delivery_count").notNull().default(0),
    finishedAt: bigint("finished_at", { mode: "number" }),
    /** The agent's `return`: 0 ok, 1 failed. */
    returnCode: integer("return_code"),
    reason: text("reason"),
    /** The campaign (agent_campaigns.id) that queued it; null for a command queued for listed devices. */
    campaignId: bigint("campaign_id", { mode: "number" }),
    /** 0 for the first try; a campaign's retry of a failed result is a new command with attempt + 1. */
    attempt: integer("attempt").notNull().default(0),
    /** Not delivered before this (a retry's backoff); null: at once. */
    notBefore: bigint("not_before", { mode: "number" }),
  },
  (t) => [
    index("agent_commands_device_id_state_idx").on(t.deviceId, t.state),
    index("agent_commands_state_deadline_idx").on(t.state, t.deadline),
    // A campaign's open commands (cancel, abort, completion) and purge by campaign.
    index("agent_commands_campaign_state_idx").on(t.campaignId, t.state),
    // Retention and purge by age walk finished commands oldest first.
    index("agent_commands_finished_at_idx").on(t.finishedAt),
  ],
);

/**
 * A command for a label or for every device. The request only writes this row;
 * the campaign job gives devices their command in bounded chunks, walking device
 * ids in order from `cursor`. Counters are kept here so that reading a campaign
 * (and its abort decision) never counts its commands.
 */
export const agentCampaigns = pgTable(
  "agent_campaigns",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedByDefaultAsIdentity(),
    target: text("target", { enum: campaignTargets }).notNull(),
    /** The label of a label campaign; null for all devices. */
    label: text("label"),
    type: integer("type").notNull(),
    content: text("content").notNull(),
    state: text("state", { enum: campaignStates }).notNull(),
    createdAt: bigint("created_at", { mode: "number" }).notNull(),
    /** Commands not final by then expire; the campaign ends 'expired'. */
    deadline: bigint("deadline", { mode: "number" }).notNull(),
    finishedAt: bigint("finished_at", { mode: "number" }),
    /** 0: no rate limit. */
    devicesPerMinute: integer("devices_per_minute").notNull().default(0),
    /** 0: never abort. */
    abortFailurePercent: integer("abort_failure_percent").notNull().default(0),
    abortMinResults: integer("abort_min_results").notNull().default(0),
    retryCount: integer("retry_count").notNull().default(0),
    retryBackoffMs: bigint("retry_backoff_ms", { mode: "number" }).notNull().default(0),
    /** The greatest device id that got its command so far (device id order); null before the first chunk. */
    cursor: text("cursor"),
    /** Every targeted device has its command. */
    materialised: boolean("materialised").notNull().default(false),
    targeted: bigint("targeted", { mode: "number" }).notNull().default(0),
    /** Devices the campaign is expected to reach; exact once materialised. */
    estimated: bigint("estimated", { mode: "number" }).notNull().default(0),
    succeeded: bigint("succeeded", { mode: "number" }).notNull().default(0),
    /** Final failures (no retry left). */
    failed: bigint("failed", { mode: "number" }).notNull().default(0),
    retried: bigint("retried", { mode: "number" }).notNull().default(0),
    reason: text("reason"),
    /** Stopped (aborted, cancelled) while commands were open: the job still cancels them in chunks. */
    sweeping: boolean("sweeping").notNull().default(false),
  },
  // The campaign job looks for running campaigns; listings page by id.
  (t) => [index("agent_campaigns_state_idx").on(t.state)],
);
