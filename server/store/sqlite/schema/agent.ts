// Endpoint agent (seed 002): devices with the hashes of their current and
// previous token, operator labels, and commands with their delivery state.
import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { campaignStates, campaignTargets, commandStates } from "../../enums.js";

export const agentDevices = sqliteTable(
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
    tokenExpiresAt: integer("token_expires_at").notNull(),
    /** sha256hex of the token answered before the current one (a device may have missed our answer). */
    previousTokenHash: text("previous_token_hash"),
    /** The previous token counts until then, and only until the device uses its current one (cleared then). */
    previousTokenExpiresAt: integer("previous_token_expires_at"),
    registeredAt: integer("registered_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    lastSeen: integer("last_seen"),
  },
  // No index on last_seen: every heartbeat writes it, and an index entry would
  // move on each write (two more random pages per heartbeat, the hottest write of
  // the server). Online/offline listings filter while walking the device id order.
  // No index on token_hash either: tokens are always checked by device id.
  // devicename (BINARY, byte order): a listing's name prefix is a range on it.
  (t) => [index("agent_devices_os_idx").on(t.os), index("agent_devices_devicename_idx").on(t.devicename)],
);

export const agentDeviceLabels = sqliteTable(
  "agent_device_labels",
  {
    deviceId: text("device_id").notNull(),
    label: text("label").notNull(),
  },
  // (label, device_id): a label campaign walks one label's devices in device id order.
  (t) => [primaryKey({ columns: [t.deviceId, t.label] }), index("agent_device_labels_label_device_idx").on(t.label, t.deviceId)],
);

export const agentCommands = sqliteTable(
  "agent_commands",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    deviceId: text("device_id").notNull(),
    /** 1 start event recording, 2 stop event recording; open-ended. */
    type: integer("type").notNull(),
    content: text("content").notNull(),
    state: text("state", { enum: commandStates }).notNull(),
    createdAt: integer("created_at").notNull(),
    /** After this the command expires unless a result came back. */
    deadline: integer("deadline").notNull(),
    /** First delivery. */
    deliveredAt: integer("delivered_at"),
    /** Latest delivery (redelivered while no result arrives: at-least-once). */
    lastDeliveredAt: integer("last_delivered_at"),
    deliveryCount: integer("delivery_count").notNull().default(0),
    finishedAt: integer("finished_at"),
    /** The agent's `return`: 0 ok, 1 failed. */
    returnCode: integer("return_code"),
    reason: text("reason"),
    /** The campaign (agent_campaigns.id) that queued it; null for a command queued for listed devices. */
    campaignId: integer("campaign_id"),
    /** 0 for the first try; a campaign's retry of a failed result is a new command with attempt + 1. */
    attempt: integer("attempt").notNull().default(0),
    /** Not delivered before this (a retry's backoff); null: at once. */
    notBefore: integer("not_before"),
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
export const agentCampaigns = sqliteTable(
  "agent_campaigns",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    target: text("target", { enum: campaignTargets }).notNull(),
    /** The label of a label campaign; null for all devices. */
    label: text("label"),
    type: integer("type").notNull(),
    content: text("content").notNull(),
    state: text("state", { enum: campaignStates }).notNull(),
    createdAt: integer("created_at").notNull(),
    /** Commands not final by then expire; the campaign ends 'expired'. */
    deadline: integer("deadline").notNull(),
    finishedAt: integer("finished_at"),
    /** 0: no rate limit. */
    devicesPerMinute: integer("devices_per_minute").notNull().default(0),
    /** 0: never abort. */
    abortFailurePercent: integer("abort_failure_percent").notNull().default(0),
    abortMinResults: integer("abort_min_results").notNull().default(0),
    retryCount: integer("retry_count").notNull().default(0),
    retryBackoffMs: integer("retry_backoff_ms").notNull().default(0),
    /** The greatest device id that got its command so far (device id order); null before the first chunk. */
    cursor: text("cursor"),
    /** Every targeted device has its command. */
    materialised: integer("materialised", { mode: "boolean" }).notNull().default(false),
    targeted: integer("targeted").notNull().default(0),
    /** Devices the campaign is expected to reach; exact once materialised. */
    estimated: integer("estimated").notNull().default(0),
    succeeded: integer("succeeded").notNull().default(0),
    /** Final failures (no retry left). */
    failed: integer("failed").notNull().default(0),
    retried: integer("retried").notNull().default(0),
    reason: text("reason"),
    /** Stopped (aborted, cancelled) while commands were open: the job still cancels them in chunks. */
    sweeping: integer("sweeping", { mode: "boolean" }).notNull().default(false),
  },
  // The campaign job looks for running campaigns; listings page by id.
  (t) => [index("agent_campaigns_state_idx").on(t.state)],
);
