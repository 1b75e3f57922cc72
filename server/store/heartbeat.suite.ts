// The heartbeat slice's store behaviour, as one suite run against every dialect
// (store.test.ts). Tests share the suite's database, so each test works under its
// own machine ids and product names.
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import type { HeartbeatRow, HeartbeatWriteOp, HeartbeatWriteResult, ReleaseAuditActor, ReleaseAuditRow } from "./heartbeat.js";
import type { PostgresStore } from "./postgres/store.js";
import type { SqliteStore } from "./sqlite/store.js";
import type { Store, WriteOp } from "./store.js";
import { openSuiteStore, type SuiteDatabase } from "./store.suite.js";

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 10, 20, 12, 0, 0);
const ALICE: ReleaseAuditActor = { kind: "operator", id: "key-alice", name: "alice" };

/** Every row of every table (all dialects) that has `text` in some text column, as "table: row". */
export async function rowsMentioning(store: Store, text: string): Promise<string[]> {
  const found: string[] = [];
  if (store.dialect === "sqlite") {
    const sqlite = (store as SqliteStore).sqlite;
    const tables = sqlite.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`).pluck().all() as string[];
    for (const table of tables) {
      const columns = (sqlite.prepare(`SELECT name FROM pragma_table_info(?)`).pluck().all(table) as string[]).map((c) => `"${c}"`);
      const where = columns.map((c) => `instr(CAST(${c} AS TEXT), ?) > 0`).join(" OR ");
      const rows = sqlite.prepare(`SELECT * FROM "${table}" WHERE ${where}`).all(...columns.map(() => text));
      for (const row of rows) found.push(`${table}: ${JSON.stringify(row)}`);
    }
  } else {
    const db = (store as PostgresStore).db;
    const result = await db.execute(
      sql`SELECT table_schema, table_name, column_name FROM information_schema.columns WHERE table_schema NOT IN ('pg_catalog', 'information_schema')`,
    );
    const byTable = new Map<string, string[]>();
    for (const row of (result as unknown as { rows: Array<Record<string, string>> }).rows) {
      const key = `"${row.table_schema}"."${row.table_name}"`;
      byTable.set(key, [...(byTable.get(key) ?? []), `"${row.column_name}"`]);
    }
    for (const [table, columns] of byTable) {
      const where = columns.map((c) => `strpos(${c}::text, $1) > 0`).join(" OR ");
      const rows = await db.execute(sql.raw(`SELECT * FROM ${table} WHERE ${where.replaceAll("$1", `'${text.replaceAll("'", "''")}'`)}`));
      for (const row of (rows as unknown as { rows: unknown[] }).rows) found.push(`${table}: ${JSON.stringify(row)}`);
    }
  }
  return found;
}

function heartbeat(overrides: Partial<HeartbeatRow> & Pick<HeartbeatRow, "machineId" | "hbId">): HeartbeatRow {
  return {
    product: "default",
    channel: "stable",
    version: "2.0",
    osType: "Linux",
    osVersion: "5.10.17-v7l+",
    country: "notSet",
    region: "notSet",
    receivedAt: T0,
    ...overrides,
  };
}

export function describeHeartbeatStoreSuite(label: string, freshDatabase: () => Promise<SuiteDatabase>): void {
  describe(`heartbeat store: ${label}`, () => {
    let store: Store;
    openSuiteStore(freshDatabase, (opened) => (store = opened));

    async function apply<Op extends HeartbeatWriteOp>(op: Op): Promise<Extract<HeartbeatWriteResult, { kind: Op["kind"] }>> {
      const [outcome] = await store.apply([op as WriteOp]);
      if (!outcome?.ok) throw outcome?.error ?? new Error("no outcome");
      return outcome.result as Extract<HeartbeatWriteResult, { kind: Op["kind"] }>;
    }

    it("upserts installations, merging heartbeats of one installation within and across operations", async () => {
      const machineId = randomUUID();
      const result = await apply({
        kind: "recordHeartbeats",
        keepRaw: true,
        heartbeats: [
          heartbeat({ machineId, hbId: "a", version: "1.9", receivedAt: T0 }),
          heartbeat({ machineId, hbId: "a", version: "2.0", receivedAt: T0 + 1000 }),
          heartbeat({ machineId, hbId: "b", version: "2.0", osType: "Windows", osVersion: "10", receivedAt: T0 + 500 }),
        ],
      });
      expect(result).toEqual({ kind: "recordHeartbeats", installations: 2 });
      await apply({ kind: "recordHeartbeats", keepRaw: true, heartbeats: [heartbeat({ machineId, hbId: "a", version: "2.1", country: "DE", receivedAt: T0 + 3 * DAY })] });
      // An older heartbeat arriving late counts but does not overwrite newer fields.
      await apply({ kind: "recordHeartbeats", keepRaw: true, heartbeats: [heartbeat({ machineId, hbId: "a", version: "1.0", receivedAt: T0 - DAY })] });

      const data = await store.heartbeat.machineData(machineId);
      expect(data.installations).toEqual([
        {
          machineId,
          hbId: "a",
          product: "default",
          channel: "stable",
          version: "2.1",
          osType: "Linux",
          osVersion: "5.10.17-v7l+",
          country: "DE",
          region: "notSet",
          firstSeen: T0 - DAY,
          lastSeen: T0 + 3 * DAY,
          heartbeats: 4,
        },
        expect.objectContaining({ hbId: "b", osType: "Windows", osVersion: "10", firstSeen: T0 + 500, lastSeen: T0 + 500, heartbeats: 1 }),
      ]);
      expect(data.heartbeats.map((h) => [h.hbId, h.version, h.receivedAt])).toEqual([
        ["a", "1.0", T0 - DAY],
        ["a", "1.9", T0],
        ["b", "2.0", T0 + 500],
        ["a", "2.0", T0 + 1000],
        ["a", "2.1", T0 + 3 * DAY],
      ]);
      expect(data.daily.map((d) => [d.day, d.hbId, d.version, d.heartbeats])).toEqual([
        ["2026-11-19", "a", "1.0", 1],
        ["2026-11-20", "a", "2.0", 2],
        ["2026-11-20", "b", "2.0", 1],
        ["2026-11-23", "a", "2.1", 1],
      ]);
    });

    it("writes several operations of one batch as one by one", async () => {
      const machineId = randomUUID();
      const outcomes = await store.apply([
        { kind: "recordHeartbeats", keepRaw: true, heartbeats: [heartbeat({ machineId, hbId: "a", version: "3.0", receivedAt: T0 + 2000 })] },
        {
          kind: "recordHeartbeats",
          keepRaw: false,
          heartbeats: [
            heartbeat({ machineId, hbId: "a", version: "2.0", country: "DE", receivedAt: T0 + 1000 }),
            heartbeat({ machineId, hbId: "b", version: "1.0", receivedAt: T0 }),
          ],
        },
        { kind: "setRelease", product: `p-${machineId}`, channel: "stable", version: "9", rolloutPercent: 100, at: T0, actor: ALICE },
        {
          kind: "recordHeartbeats",
          keepRaw: true,
          heartbeats: [heartbeat({ machineId, hbId: "b", version: "1.1", receivedAt: T0 + 500 }), heartbeat({ machineId, hbId: "a", version: "1.9", receivedAt: T0 - DAY })],
        },
      ]);
      expect(outcomes.map((o) => (o.ok ? o.result : o.error))).toEqual([
        { kind: "recordHeartbeats", installations: 1 },
        { kind: "recordHeartbeats", installations: 2 },
        expect.objectContaining({ kind: "setRelease" }),
        { kind: "recordHeartbeats", installations: 2 },
      ]);
      const data = await store.heartbeat.machineData(machineId);
      expect(data.installations.map((r) => [r.hbId, r.version, r.country, r.firstSeen, r.lastSeen, r.heartbeats])).toEqual([
        ["a", "3.0", "notSet", T0 - DAY, T0 + 2000, 3],
        ["b", "1.1", "notSet", T0, T0 + 500, 2],
      ]);
      // Each operation overwrites a daily row's fields: the last one that wrote it counts, not the latest heartbeat.
      expect(data.daily.map((d) => [d.day, d.hbId, d.version, d.heartbeats])).toEqual([
        ["2026-11-19", "a", "1.9", 1],
        ["2026-11-20", "a", "2.0", 2],
        ["2026-11-20", "b", "1.1", 2],
      ]);
      expect(data.heartbeats.map((h) => [h.hbId, h.version, h.receivedAt])).toEqual([
        ["a", "1.9", T0 - DAY],
        ["b", "1.1", T0 + 500],
        ["a", "3.0", T0 + 2000],
      ]);
    });

    it("keeps no raw rows when told not to", async () => {
      const machineId = randomUUID();
      await apply({ kind: "recordHeartbeats", keepRaw: false, heartbeats: [heartbeat({ machineId, hbId: "x" })] });
      const data = await store.heartbeat.machineData(machineId);
      expect(data.installations).toHaveLength(1);
      expect(data.daily).toHaveLength(1);
      expect(data.heartbeats).toEqual([]);
    });

    it("writes large groups (more rows than one statement takes)", async () => {
      const machineId = randomUUID();
      const heartbeats = Array.from({ length: 700 }, (_, i) => heartbeat({ machineId, hbId: `i${i % 350}`, receivedAt: T0 + i }));
      expect(await apply({ kind: "recordHeartbeats", keepRaw: true, heartbeats })).toEqual({ kind: "recordHeartbeats", installations: 350 });
      const data = await store.heartbeat.machineData(machineId);
      expect(data.installations).toHaveLength(350);
      expect(data.installations.every((row) => row.heartbeats === 2)).toBe(true);
      expect(data.heartbeats).toHaveLength(700);
    });

    it("sets releases, remembering the previous version only when the version changes", async () => {
      const product = `p-${randomUUID()}`;
      const first = await apply({ kind: "setRelease", product, channel: "stable", version: "2.0", rolloutPercent: 100, at: T0, actor: ALICE });
      expect(first.release).toEqual({ product, channel: "stable", version: "2.0", previousVersion: "", rolloutPercent: 100, updatedAt: T0 });
      await apply({ kind: "setRelease", product, channel: "stable", version: "2.1", rolloutPercent: 10, at: T0 + 1, actor: ALICE });
      const third = await apply({ kind: "setRelease", product, channel: "stable", version: "2.1", rolloutPercent: 50, at: T0 + 2, actor: ALICE });
      expect(third.release).toMatchObject({ version: "2.1", previousVersion: "2.0", rolloutPercent: 50 });
      await apply({ kind: "setRelease", product, channel: "beta", version: "3.0-rc.1", rolloutPercent: 100, at: T0 + 3, actor: ALICE });
      expect(await store.heartbeat.getRelease(product, "stable")).toEqual({
        product,
        channel: "stable",
        version: "2.1",
        previousVersion: "2.0",
        rolloutPercent: 50,
        updatedAt: T0 + 2,
      });
      expect((await store.heartbeat.listReleases(product)).map((r) => r.channel)).toEqual(["beta", "stable"]);
      expect(await apply({ kind: "deleteRelease", product, channel: "beta", at: T0 + 4, actor: ALICE })).toEqual({ kind: "deleteRelease", deleted: true });
      expect(await apply({ kind: "deleteRelease", product, channel: "beta", at: T0 + 4, actor: ALICE })).toEqual({ kind: "deleteRelease", deleted: false });
      expect(await store.heartbeat.getRelease(product, "beta")).toBeUndefined();
    });

    it("writes a release audit entry beside each release change, none for a delete of nothing", async () => {
      const product = `audit-${randomUUID()}`;
      const bob: ReleaseAuditActor = { kind: "operator", id: "key-bob", name: "bob" };
      await apply({ kind: "setRelease", product, channel: "stable", version: "1.0", rolloutPercent: 100, at: T0, actor: ALICE });
      await apply({ kind: "setRelease", product, channel: "stable", version: "1.1", rolloutPercent: 20, at: T0 + 1, actor: bob });
      await apply({ kind: "deleteRelease", product, channel: "stable", at: T0 + 2, actor: ALICE });
      await apply({ kind: "deleteRelease", product, channel: "stable", at: T0 + 3, actor: bob });
      const v10 = { product, channel: "stable", version: "1.0", previousVersion: "", rolloutPercent: 100, updatedAt: T0 };
      const v11 = { product, channel: "stable", version: "1.1", previousVersion: "1.0", rolloutPercent: 20, updatedAt: T0 + 1 };
      const entries = await store.heartbeat.listReleaseAudit({ product, limit: 10 });
      expect(entries.map(({ id: _id, ...rest }) => rest)).toEqual([
        { at: T0 + 2, product, channel: "stable", action: "delete", actorKind: "operator", actorId: "key-alice", actorName: "alice", before: v11, after: null, detailJson: null },
        { at: T0 + 1, product, channel: "stable", action: "set", actorKind: "operator", actorId: "key-bob", actorName: "bob", before: v10, after: v11, detailJson: null },
        { at: T0, product, channel: "stable", action: "set", actorKind: "operator", actorId: "key-alice", actorName: "alice", before: null, after: v10, detailJson: null },
      ]);
      expect(entries.every((e) => Number.isSafeInteger(e.id) && e.id > 0)).toBe(true);
    });

    it("writes the audit entry iff its change commits: a failing change or a failing entry leaves neither", async () => {
      const product = `atomic-${randomUUID()}`;
      const bad = <T>(value: unknown) => value as T;
      const outcomes = await store.apply([
        { kind: "setRelease", product, channel: "stable", version: "1.0", rolloutPercent: 100, at: T0, actor: ALICE },
        // The change itself fails (no version): no entry.
        { kind: "setRelease", product, channel: "beta", version: bad<string>(null), rolloutPercent: 100, at: T0 + 1, actor: ALICE },
        // The change would succeed but its entry cannot be written (no actor name): the change goes too.
        { kind: "setRelease", product, channel: "stable", version: "2.0", rolloutPercent: 100, at: T0 + 2, actor: { ...ALICE, name: bad<string>(null) } },
        { kind: "deleteRelease", product, channel: "stable", at: T0 + 3, actor: { ...ALICE, id: bad<string>(null) } },
        { kind: "setRelease", product, channel: "edge", version: "3.0", rolloutPercent: 100, at: T0 + 4, actor: ALICE },
      ]);
      expect(outcomes.map((o) => o.ok)).toEqual([true, false, false, false, true]);
      expect((await store.heartbeat.listReleases(product)).map((r) => [r.channel, r.version])).toEqual([
        ["edge", "3.0"],
        ["stable", "1.0"],
      ]);
      const entries = await store.heartbeat.listReleaseAudit({ product, limit: 10 });
      expect(entries.map((e) => [e.channel, e.action, e.after?.version])).toEqual([
        ["edge", "set", "3.0"],
        ["stable", "set", "1.0"],
      ]);
    });

    it("lists release audit entries newest first (at, then id), filtered and paged", async () => {
      const product = `pages-${randomUUID()}`;
      const other = `pages-${randomUUID()}`;
      const T9 = Date.UTC(2031, 0, 1);
      const set = (p: string, channel: string, version: string, at: number) =>
        ({ kind: "setRelease", product: p, channel, version, rolloutPercent: 100, at, actor: ALICE }) as const;
      // Written out of time order, two at the same time (then the higher id is newer).
      await store.apply([set(product, "stable", "1", T9 + 30), set(product, "beta", "2", T9 + 10)]);
      await apply(set(other, "stable", "3", T9 + 20));
      await apply(set(product, "stable", "4", T9 + 20));
      await apply(set(product, "beta", "5", T9 + 20));
      await apply(set(product, "stable", "6", T9));
      const versions = (rows: ReleaseAuditRow[]) => rows.map((e) => e.after?.version);
      expect(versions(await store.heartbeat.listReleaseAudit({ product, limit: 10 }))).toEqual(["1", "5", "4", "2", "6"]);
      expect(versions(await store.heartbeat.listReleaseAudit({ product, channel: "beta", limit: 10 }))).toEqual(["5", "2"]);
      expect(versions(await store.heartbeat.listReleaseAudit({ product, since: T9 + 20, limit: 10 }))).toEqual(["1", "5", "4"]);
      // Every product: the other one's entry among them.
      expect(versions(await store.heartbeat.listReleaseAudit({ since: T9, limit: 10 }))).toEqual(["1", "5", "4", "3", "2", "6"]);
      // Keyset pages of two, continuing after the last entry of each page.
      const seen: ReleaseAuditRow[] = [];
      let before: { at: number; id: number } | undefined;
      for (;;) {
        const page = await store.heartbeat.listReleaseAudit({ product, limit: 2, ...(before ? { before } : {}) });
        seen.push(...page);
        const last = page.at(-1);
        if (page.length < 2 || !last) break;
        before = { at: last.at, id: last.id };
      }
      expect(versions(seen)).toEqual(["1", "5", "4", "2", "6"]);
    });

    it("prunes release audit entries older than the bound in slices, and only when asked", async () => {
      const product = `retained-${randomUUID()}`;
      const old = T0 - 2000 * DAY;
      for (let i = 0; i < 5; i++) {
        await apply({ kind: "setRelease", product, channel: "stable", version: `1.${i}`, rolloutPercent: 100, at: old + i, actor: ALICE });
      }
      await apply({ kind: "setRelease", product, channel: "stable", version: "2.0", rolloutPercent: 100, at: T0, actor: ALICE });
      expect(await apply({ kind: "pruneHeartbeatData", limit: 10 })).toMatchObject({ releaseAudit: 0 });
      expect(await apply({ kind: "pruneHeartbeatData", releaseAuditBefore: old + 100, limit: 3 })).toMatchObject({ releaseAudit: 3 });
      expect(await apply({ kind: "pruneHeartbeatData", releaseAuditBefore: old + 100, limit: 3 })).toMatchObject({ releaseAudit: 2 });
      expect((await store.heartbeat.listReleaseAudit({ product, limit: 10 })).map((e) => e.after?.version)).toEqual(["2.0"]);
      // The release itself is not the audit's to prune.
      expect((await store.heartbeat.getRelease(product, "stable"))?.version).toBe("2.0");
    });

    it("yanks and unyanks versions per product with an audit entry each, once per change", async () => {
      const product = `yank-${randomUUID()}`;
      const bob: ReleaseAuditActor = { kind: "operator", id: "key-bob", name: "bob" };
      const first = await apply({ kind: "yankVersion", product, version: "2.1", at: T0, actor: ALICE });
      expect(first).toEqual({ kind: "yankVersion", created: true, yank: { product, version: "2.1", yankedAt: T0, actor: ALICE } });
      // Yanked already: the first yank stays, no second entry.
      const again = await apply({ kind: "yankVersion", product, version: "2.1", at: T0 + 1, actor: bob });
      expect(again).toEqual({ kind: "yankVersion", created: false, yank: { product, version: "2.1", yankedAt: T0, actor: ALICE } });
      await apply({ kind: "yankVersion", product, version: "2.10", at: T0 + 2, actor: bob });
      await apply({ kind: "yankVersion", product: `${product}-other`, version: "2.1", at: T0 + 2, actor: bob });
      const controls = await store.heartbeat.getReleaseControls(product);
      // Newest version first, as versions.
      expect(controls.yanks.map((y) => [y.version, y.actor.name])).toEqual([
        ["2.10", "bob"],
        ["2.1", "alice"],
      ]);
      expect(controls.rollbacks).toEqual([]);
      expect(await apply({ kind: "unyankVersion", product, version: "2.1", at: T0 + 3, actor: bob })).toEqual({ kind: "unyankVersion", unyanked: true });
      expect(await apply({ kind: "unyankVersion", product, version: "2.1", at: T0 + 4, actor: bob })).toEqual({ kind: "unyankVersion", unyanked: false });
      expect((await store.heartbeat.getReleaseControls(product)).yanks.map((y) => y.version)).toEqual(["2.10"]);
      const entries = await store.heartbeat.listReleaseAudit({ product, limit: 10 });
      expect(entries.map(({ id: _id, ...rest }) => rest)).toEqual([
        { at: T0 + 3, product, channel: "", action: "unyank", actorKind: "operator", actorId: "key-bob", actorName: "bob", before: null, after: null, detailJson: JSON.stringify({ version: "2.1", yankedAt: T0 }) },
        { at: T0 + 2, product, channel: "", action: "yank", actorKind: "operator", actorId: "key-bob", actorName: "bob", before: null, after: null, detailJson: JSON.stringify({ version: "2.10" }) },
        { at: T0, product, channel: "", action: "yank", actorKind: "operator", actorId: "key-alice", actorName: "alice", before: null, after: null, detailJson: JSON.stringify({ version: "2.1" }) },
      ]);
      const all = await store.heartbeat.listReleaseControls();
      expect(all.yanks.filter((y) => y.product.startsWith(product)).map((y) => `${y.product.slice(product.length)}:${y.version}`)).toEqual([":2.10", "-other:2.1"]);
    });

    it("sets, replaces and cancels rollbacks per product, version and channel, each with an audit entry; refuses a yanked target", async () => {
      const product = `rollback-${randomUUID()}`;
      const set = await apply({ kind: "setRollback", product, fromVersion: "1.2", toVersion: "1.0", channel: "", at: T0, actor: ALICE });
      expect(set).toEqual({
        kind: "setRollback",
        targetYanked: false,
        replacedToVersion: "",
        rollback: { product, fromVersion: "1.2", toVersion: "1.0", channel: "", createdAt: T0, actor: ALICE },
      });
      const replaced = await apply({ kind: "setRollback", product, fromVersion: "1.2", toVersion: "1.1", channel: "", at: T0 + 1, actor: ALICE });
      expect(replaced).toMatchObject({ targetYanked: false, replacedToVersion: "1.0", rollback: { toVersion: "1.1", createdAt: T0 + 1 } });
      await apply({ kind: "setRollback", product, fromVersion: "1.2", toVersion: "1.0", channel: "beta", at: T0 + 2, actor: ALICE });
      await apply({ kind: "yankVersion", product, version: "0.9", at: T0 + 3, actor: ALICE });
      // The target is compared as a version: 0.9.0 is the yanked 0.9.
      expect(await apply({ kind: "setRollback", product, fromVersion: "1.2", toVersion: "0.9.0", channel: "edge", at: T0 + 4, actor: ALICE })).toEqual({
        kind: "setRollback",
        targetYanked: true,
      });
      const controls = await store.heartbeat.getReleaseControls(product);
      expect(controls.rollbacks.map((r) => [r.fromVersion, r.channel, r.toVersion])).toEqual([
        ["1.2", "", "1.1"],
        ["1.2", "beta", "1.0"],
      ]);
      const cancelled = await apply({ kind: "cancelRollback", product, fromVersion: "1.2", channel: "beta", at: T0 + 5, actor: ALICE });
      expect(cancelled).toEqual({
        kind: "cancelRollback",
        cancelled: { product, fromVersion: "1.2", toVersion: "1.0", channel: "beta", createdAt: T0 + 2, actor: ALICE },
      });
      expect(await apply({ kind: "cancelRollback", product, fromVersion: "1.2", channel: "beta", at: T0 + 6, actor: ALICE })).toEqual({ kind: "cancelRollback", cancelled: undefined });
      expect((await store.heartbeat.getReleaseControls(product)).rollbacks.map((r) => r.channel)).toEqual([""]);
      const entries = await store.heartbeat.listReleaseAudit({ product, limit: 10 });
      expect(entries.map((e) => [e.action, e.channel, e.detailJson])).toEqual([
        ["cancel-rollback", "beta", JSON.stringify({ fromVersion: "1.2", toVersion: "1.0", channel: "beta" })],
        ["yank", "", JSON.stringify({ version: "0.9" })],
        ["rollback", "beta", JSON.stringify({ fromVersion: "1.2", toVersion: "1.0", channel: "beta" })],
        ["rollback", "", JSON.stringify({ fromVersion: "1.2", toVersion: "1.1", channel: "", replacedToVersion: "1.0" })],
        ["rollback", "", JSON.stringify({ fromVersion: "1.2", toVersion: "1.0", channel: "" })],
      ]);
    });

    it("writes a yank or rollback iff its audit entry is written", async () => {
      const product = `atomic-controls-${randomUUID()}`;
      const bad = <T>(value: unknown) => value as T;
      const outcomes = await store.apply([
        { kind: "yankVersion", product, version: "1.0", at: T0, actor: { ...ALICE, name: bad<string>(null) } },
        { kind: "setRollback", product, fromVersion: "2.0", toVersion: "1.5", channel: "", at: T0, actor: { ...ALICE, id: bad<string>(null) } },
        { kind: "yankVersion", product, version: "3.0", at: T0, actor: ALICE },
      ]);
      expect(outcomes.map((o) => o.ok)).toEqual([false, false, true]);
      const controls = await store.heartbeat.getReleaseControls(product);
      expect(controls.yanks.map((y) => y.version)).toEqual(["3.0"]);
      expect(controls.rollbacks).toEqual([]);
      expect((await store.heartbeat.listReleaseAudit({ product, limit: 10 })).map((e) => e.action)).toEqual(["yank"]);
    });

    it("counts installations per reported version of a product, per channel, with those active since a time", async () => {
      const product = `counts-${randomUUID()}`;
      const m = randomUUID();
      await apply({
        kind: "recordHeartbeats",
        keepRaw: false,
        heartbeats: [
          heartbeat({ machineId: m, hbId: "1", product, version: "1.2", receivedAt: T0 }),
          heartbeat({ machineId: m, hbId: "2", product, version: "1.2", channel: "beta", receivedAt: T0 - 3 * DAY }),
          heartbeat({ machineId: m, hbId: "3", product, version: "1.1", receivedAt: T0 }),
          heartbeat({ machineId: m, hbId: "4", product: `${product}-other`, version: "1.2", receivedAt: T0 }),
        ],
      });
      expect(await store.heartbeat.versionCounts(product, undefined, T0 - DAY)).toEqual([
        { version: "1.1", installations: 1, active: 1 },
        { version: "1.2", installations: 2, active: 1 },
      ]);
      expect(await store.heartbeat.versionCounts(product, "beta", T0 - DAY)).toEqual([{ version: "1.2", installations: 1, active: 0 }]);
      expect(await store.heartbeat.versionCounts(`${product}-none`, undefined, T0)).toEqual([]);
    });

    it("counts the census by version and OS within a window, per product", async () => {
      const product = `p-${randomUUID()}`;
      const other = `p-${randomUUID()}`;
      const m1 = randomUUID();
      const m2 = randomUUID();
      await apply({
        kind: "recordHeartbeats",
        keepRaw: false,
        heartbeats: [
          heartbeat({ machineId: m1, hbId: "1", product, version: "2.0", receivedAt: T0 }),
          heartbeat({ machineId: m1, hbId: "2", product, version: "2.10", osVersion: "6.1.21-v8+", receivedAt: T0 }),
          heartbeat({ machineId: m2, hbId: "1", product, version: "2.10", osType: "Windows", osVersion: "10", receivedAt: T0 - DAY / 2 }),
          heartbeat({ machineId: m2, hbId: "old", product, version: "1.0", receivedAt: T0 - 10 * DAY }),
          heartbeat({ machineId: m2, hbId: "elsewhere", product: other, receivedAt: T0 }),
        ],
      });
      const census = await store.heartbeat.census(T0 - DAY, product);
      const sorted = (counts: Array<{ key: string; installations: number }>) => [...counts].sort((a, b) => a.key.localeCompare(b.key));
      expect(census.installations).toBe(3);
      expect(census.machines).toBe(2);
      expect(sorted(census.byVersion)).toEqual([
        { key: "2.0", installations: 1 },
        { key: "2.10", installations: 2 },
      ]);
      expect(sorted(census.byOs)).toEqual([
        { key: "Linux 5.10.17-v7l+", installations: 1 },
        { key: "Linux 6.1.21-v8+", installations: 1 },
        { key: "Windows 10", installations: 1 },
      ]);
      expect(sorted(census.byOsType)).toEqual([
        { key: "Linux", installations: 2 },
        { key: "Windows", installations: 1 },
      ]);
      expect((await store.heartbeat.census(T0 - 30 * DAY, product)).installations).toBe(4);
      // Without a product, every product counts.
      expect((await store.heartbeat.census(T0 - DAY)).installations).toBeGreaterThanOrEqual(4);

      const series = await store.heartbeat.censusSeries("2026-11-10", "2026-11-20", product);
      expect(series).toEqual([
        { day: "2026-11-10", version: "1.0", installations: 1 },
        { day: "2026-11-20", version: "2.0", installations: 1 },
        { day: "2026-11-20", version: "2.10", installations: 2 },
      ]);
    });

    it("erases every row of one machine and nothing else", async () => {
      const machineId = `erase-${randomUUID()}`;
      const neighbour = `keep-${randomUUID()}`;
      await apply({
        kind: "recordHeartbeats",
        keepRaw: true,
        heartbeats: [
          heartbeat({ machineId, hbId: "1", receivedAt: T0 }),
          heartbeat({ machineId, hbId: "2", receivedAt: T0 + DAY }),
          heartbeat({ machineId: neighbour, hbId: "1", receivedAt: T0 }),
        ],
      });
      expect((await rowsMentioning(store, machineId)).length).toBe(2 + 2 + 2);
      expect(await apply({ kind: "eraseMachine", machineId })).toEqual({ kind: "eraseMachine", installations: 2, heartbeats: 2, daily: 2 });
      expect(await rowsMentioning(store, machineId)).toEqual([]);
      expect(await store.heartbeat.machineData(machineId)).toEqual({ installations: [], heartbeats: [], daily: [] });
      expect((await store.heartbeat.machineData(neighbour)).installations).toHaveLength(1);
    });

    it("prunes expired rows in slices", async () => {
      const machineId = randomUUID();
      const old = T0 - 1000 * DAY;
      await apply({
        kind: "recordHeartbeats",
        keepRaw: true,
        heartbeats: [
          ...Array.from({ length: 5 }, (_, i) => heartbeat({ machineId, hbId: `old${i}`, receivedAt: old + i })),
          heartbeat({ machineId, hbId: "new", receivedAt: T0 }),
        ],
      });
      const first = await apply({ kind: "pruneHeartbeatData", heartbeatsBefore: old + 100, dailyBefore: "2024-02-25", installationsBefore: old + 100, limit: 3 });
      expect(first).toEqual({ kind: "pruneHeartbeatData", heartbeats: 3, daily: 3, installations: 3, releaseAudit: 0 });
      const second = await apply({ kind: "pruneHeartbeatData", heartbeatsBefore: old + 100, dailyBefore: "2024-02-25", installationsBefore: old + 100, limit: 3 });
      expect(second).toEqual({ kind: "pruneHeartbeatData", heartbeats: 2, daily: 2, installations: 2, releaseAudit: 0 });
      const data = await store.heartbeat.machineData(machineId);
      expect(data.installations.map((r) => r.hbId)).toEqual(["new"]);
      expect(data.heartbeats.map((r) => r.hbId)).toEqual(["new"]);
      expect(data.daily.map((r) => r.hbId)).toEqual(["new"]);
      // Only the bounds given apply.
      expect(await apply({ kind: "pruneHeartbeatData", limit: 10 })).toEqual({ kind: "pruneHeartbeatData", heartbeats: 0, daily: 0, installations: 0, releaseAudit: 0 });
    });
  });
}
