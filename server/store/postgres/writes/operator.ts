// Operator key writes on Postgres, outside the batcher (rare, and an
// operator's own request waits for them): insert, revoke, touch.
import { and, eq, isNull } from "drizzle-orm";
import type { OperatorKeyRow } from "../../operator.js";
import type { OperatorKeyWrites } from "../../reads/operator.js";
import type { PgDb } from "../db.js";
import { operatorKeys } from "../schema/index.js";

export class PostgresOperatorKeyWrites implements OperatorKeyWrites {
  constructor(private readonly db: PgDb) {}

  async insert(row: OperatorKeyRow): Promise<void> {
    await this.db.insert(operatorKeys).values(row);
  }

  async revoke(id: string, at: number): Promise<OperatorKeyRow | undefined> {
    await this.db
      .update(operatorKeys)
      .set({ revokedAt: at })
      .where(and(eq(operatorKeys.id, id), isNull(operatorKeys.revokedAt)));
    const [row] = await this.db.select().from(operatorKeys).where(eq(operatorKeys.id, id)).limit(1);
    return row;
  }

  async touch(id: string, at: number): Promise<void> {
    await this.db.update(operatorKeys).set({ lastUsedAt: at }).where(eq(operatorKeys.id, id));
  }
}
