// Operator API keys: only the sha256hex of each key is stored.
import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { operatorKeyScopes } from "../../enums.js";

export const operatorKeys = sqliteTable("operator_keys", {
  /** Public id, safe to show and log. */
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  scope: text("scope", { enum: operatorKeyScopes }).notNull(),
  keyHash: text("key_hash").notNull().unique("operator_keys_key_hash_uq"),
  createdAt: integer("created_at").notNull(),
  lastUsedAt: integer("last_used_at"),
  revokedAt: integer("revoked_at"),
});
