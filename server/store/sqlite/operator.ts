// Operator slice on SQLite: API keys.
import { and, asc, eq, isNull } from "drizzle-orm";
import type { BetterSQLite3Database } from "drizzle-orm/better-sqlite3";
import type { OperatorKeyRepository, OperatorKeyRow } from "../operator.js";
import type * as schema from "./schema/index.js";
import { operatorKeys } from "./schema/index.js";

export class SqliteOperatorKeyRepository implements OperatorKeyRepository {
  constructor(private readonly db: BetterSQLite3Database<typeof schema>) {}

  async insert(row: OperatorKeyRow): Promise<void> {
    this.db.insert(operatorKeys).values(row).run();
  }

  async findByHash(keyHash: string): Promise<OperatorKeyRow | undefined> {
    return this.db.select().from(operatorKeys).where(eq(operatorKeys.keyHash, keyHash)).get();
  }

  async list(includeRevoked: boolean): Promise<OperatorKeyRow[]> {
    return this.db
      .select()
      .from(operatorKeys)
      .where(includeRevoked ? undefined : isNull(operatorKeys.revokedAt))
      .orderBy(asc(operatorKeys.createdAt), asc(operatorKeys.id))
      .all();
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
