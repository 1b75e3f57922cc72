// Operator slice reads, for both dialects: API keys by hash and the key list.
// The few key writes (insert, revoke, touch: outside the batcher) are each
// dialect's own (<dialect>/writes/operator.ts).
import { sql } from "drizzle-orm";
import type { OperatorKeyRepository, OperatorKeyRow } from "../operator.js";
import { type ReadDb, wholeShapeOf } from "./db.js";
import { operatorKeys as k } from "./tables.js";

const key = wholeShapeOf(k);

export type OperatorKeyWrites = Pick<OperatorKeyRepository, "insert" | "revoke" | "touch">;

/** The key reads, and the dialect's key writes passed through: the whole OperatorKeyRepository. */
export class OperatorKeyReads implements OperatorKeyRepository {
  constructor(
    private readonly db: ReadDb,
    private readonly writes: OperatorKeyWrites,
  ) {}

  insert(row: OperatorKeyRow): Promise<void> {
    return this.writes.insert(row);
  }

  revoke(id: string, at: number): Promise<OperatorKeyRow | undefined> {
    return this.writes.revoke(id, at);
  }

  touch(id: string, at: number): Promise<void> {
    return this.writes.touch(id, at);
  }

  async findByHash(keyHash: string): Promise<OperatorKeyRow | undefined> {
    const [row] = await this.db.rows(sql`SELECT ${key.select} FROM ${k} WHERE ${k.keyHash} = ${keyHash} LIMIT 1`);
    return row && key.decode(row);
  }

  async list(includeRevoked: boolean): Promise<OperatorKeyRow[]> {
    const where = includeRevoked ? sql`` : sql` WHERE ${k.revokedAt} IS NULL`;
    const rows = await this.db.rows(sql`SELECT ${key.select} FROM ${k}${where} ORDER BY ${k.createdAt}, ${k.id}`);
    return rows.map(key.decode);
  }
}
