// Storage contract of the operator slice: API keys.

export type OperatorKeyScope = "read" | "admin";

export interface OperatorKeyRow {
  /** Public id, safe to show and log. */
  id: string;
  name: string;
  scope: OperatorKeyScope;
  /** sha256hex of the secret; the secret itself is never stored. */
  keyHash: string;
  /** Epoch ms, UTC, like every time in the store. */
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

export interface OperatorKeyRepository {
  insert(row: OperatorKeyRow): Promise<void>;
  findByHash(keyHash: string): Promise<OperatorKeyRow | undefined>;
  list(includeRevoked: boolean): Promise<OperatorKeyRow[]>;
  /** Sets revoked_at once; returns the row after, undefined when the id is unknown. */
  revoke(id: string, at: number): Promise<OperatorKeyRow | undefined>;
  /** Informative only, so callers need not wait for it. */
  touch(id: string, at: number): Promise<void>;
}
