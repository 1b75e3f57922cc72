// Operator key writes on SQLite, on the main thread's connection (outside the
// batcher: rare, and an operator's own request waits for them): insert, revoke, touch.
import { and, eq, isNull } from "drizzle-orm";
import type { BetterSQLite3Database } from "drizzle-orm/better-sqlite3";
import type { OperatorKeyRow } from "../../operator.js";
import type { OperatorKeyWrites } from "../../reads/operator.js";
import type * as schema from "../schema/index.js";
import { operatorKeys } from "../schema/index.js";

export class SqliteOperatorKeyWrites implements OperatorKeyWrites {
  constructor(private readonly db: BetterSQLite3Database<typeof schema>) {}

  async insert(row: OperatorKeyRow): Promise<void> {
    this.db.insert(operatorKeys).values(row).run();
  }

  async revoke(id: string, at: number): Promise<OperatorKeyRow | undefined> {
    return this.db.transaction((tx) => {
      tx.update(operatorKeys)
        .set({ revokedAt: at })
        .where(and(eq(operatorKeys.id, id), isNull(operatorKeys.revokedAt)))
        .run();
      return tx.select().from(operatorKeys).where(eq(operatorKeys.id, id)).get();
    });
  }

  async touch(id: string, at: number): Promise<void> {
    this.db.update(operatorKeys).set({ lastUsedAt: at }).where(eq(operatorKeys.id, id)).run();
  }
}
