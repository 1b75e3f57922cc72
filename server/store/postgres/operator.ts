// Operator slice on Postgres: API keys.
import { and, asc, eq, isNull } from "drizzle-orm";
import type { OperatorKeyRepository, OperatorKeyRow } from "../operator.js";
import type { PgDb } from "./db.js";
import { operatorKeys } from "./schema/index.js";

export class PostgresOperatorKeyRepository implements OperatorKeyRepository {
  constructor(private readonly db: PgDb) {}

  async insert(row: OperatorKeyRow): Promise<void> {
    await this.db.insert(operatorKeys).values(row);
  }

  async findByHash(keyHash: string): Promise<OperatorKeyRow | undefined> {
    const [row] = await this.db.select().from(operatorKeys).where(eq(operatorKeys.keyHash, keyHash)).limit(1);
    return row;
  }

  async list(includeRevoked: boolean): Promise<OperatorKeyRow[]> {
    return this.db
      .select()
      .from(operatorKeys)
      .where(includeRevoked ? undefined : isNull(operatorKeys.revokedAt))
      .orderBy(asc(operatorKeys.createdAt), asc(operatorKeys.id));
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
