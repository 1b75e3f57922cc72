// Endpoint agent (seed 002): devices with the hashes of their current and
// previous token, operator labels, and commands with their delivery state.
import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { commandStates } from "../../enums.js";

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
  (t) => [index("agent_devices_os_idx").on(t.os)],
);

export const agentDeviceLabels = sqliteTable(
  "agent_device_labels",
  {
    deviceId: text("device_id").notNull(),
    label: text("label").notNull(),
  },
  (t) => [primaryKey({ columns: [t.deviceId, t.label] }), index("agent_device_labels_label_idx").on(t.label)],
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
  },
  (t) => [
    index("agent_commands_device_id_state_idx").on(t.deviceId, t.state),
    index("agent_commands_state_deadline_idx").on(t.state, t.deadline),
  ],
);
