// Operator API keys: only the sha256hex of each key is stored.
import { bigint, pgTable, text } from "drizzle-orm/pg-core";
import { operatorKeyScopes } from "../../enums.js";

export const operatorKeys = pgTable("operator_keys", {
  /** Public id, safe to show and log. */
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  scope: text("scope", { enum: operatorKeyScopes }).notNull(),
  keyHash: text("key_hash").notNull().unique("operator_keys_key_hash_uq"),
  createdAt: bigint("created_at", { mode: "number" }).notNull(),
  lastUsedAt: bigint("last_used_at", { mode: "number" }),
  revokedAt: bigint("revoked_at", { mode: "number" }),
});
