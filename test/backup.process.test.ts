// `fleetbeat backup` against a running `fleetbeat serve` on SQLite that keeps
// writing: the copy becomes <data-dir>/fleetbeat.sqlite of a fresh data dir, a
// new server starts on it and every write acknowledged before the backup began
// reads back; of the writes made while it ran, the copy holds exactly the first
// ones (one committed state, not a torn mix). On Postgres the command refuses
// and shows pg_dump.
import { copyFileSync, existsSync, readdirSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import Database from "better-sqlite3";
import { afterAll, expect, it } from "vitest";
import { MachineService } from "../gen/fleetbeat/operator/v1/machines_pb.js";
import { StatsService } from "../gen/fleetbeat/operator/v1/stats_pb.js";
import { sqliteFileName } from "../server/store/sqlite/store.js";
import { legacyHeartbeat, waitFor } from "./support/outage.js";
import { createAdminKey, runCli, startServerProcess, type ServerProcess } from "./support/process-server.js";
import { makeTempDir } from "./support/server.js";

const folders: string[] = [];
const servers: ServerProcess[] = [];

afterAll(async () => {
  for (const server of servers) await server.stop();
  for (const dir of folders) await rm(dir, { recursive: true, force: true });
});

async function folder(prefix: string): Promise<string> {
  const dir = await makeTempDir(prefix);
  folders.push(dir);
  return dir;
}

it("a backup taken while the server writes restores into a fresh data dir that serves the data", { timeout: 180_000 }, async () => {
  const dataDir = await folder("fleetbeat-backup-src-");
  const out = await folder("fleetbeat-backup-out-");
  const backupFile = join(out, "fleetbeat-backup.sqlite");
  const source = await startServerProcess({ dataDir });
  servers.push(source);
  // A reader holding an old snapshot (as a long export would) keeps every later
  // commit in the WAL: no checkpoint can copy it into the database file. The
  // backup must read through the WAL, as SQLite's backup API does; a plain copy
  // of fleetbeat.sqlite would miss all the writes below.
  const pin = new Database(join(dataDir, sqliteFileName), { readonly: true });
  pin.exec("BEGIN");
  pin.prepare("SELECT count(*) FROM sqlite_master").get();

  const before = Array.from({ length: 20 }, (_, i) => `before-${i}`);
  for (const id of before) expect((await legacyHeartbeat(source.url, id)).status).toBe(200);

  // One writer, one heartbeat at a time: `during` is the order of commit.
  const during: string[] = [];
  let writing = true;
  const writer = (async () => {
    for (let i = 0; writing; i += 1) {
      const id = `during-${i}`;
      const answer = await legacyHeartbeat(source.url, id);
      if (answer.status !== 200) throw new Error(`heartbeat ${id} answered ${answer.status}`);
      during.push(id);
    }
  })();
  await waitFor(async () => during.length, (n) => n >= 3, 30_000, "the writer is writing");

  const acknowledgedAtStart = during.length;
  const backup = await runCli(["backup", backupFile, "--data-dir", dataDir, "--json"]);
  const acknowledgedAtEnd = during.length;
  writing = false;
  await writer;
  pin.exec("ROLLBACK");
  pin.close();
  expect(backup.stderr).toBe("");
  expect(backup.code).toBe(0);
  const report = JSON.parse(backup.stdout) as { file: string; bytes: number; migrations: number };
  expect(report.file).toBe(backupFile);
  expect(report.migrations).toBeGreaterThan(0);
  // The server kept committing while the command ran.
  expect(acknowledgedAtEnd).toBeGreaterThan(acknowledgedAtStart);
  expect(readdirSync(out)).toEqual(["fleetbeat-backup.sqlite"]);
  expect(await source.stop()).toBe(0);

  // Restore: the copy is the whole database of a fresh data dir.
  const restoredDir = await folder("fleetbeat-backup-restored-");
  copyFileSync(backupFile, join(restoredDir, sqliteFileName));
  const secret = await createAdminKey({ dataDir: restoredDir });
  const restored = await startServerProcess({ dataDir: restoredDir });
  servers.push(restored);
  const transport = createConnectTransport({ baseUrl: restored.url, httpVersion: "1.1" });
  const headers = { authorization: `Bearer ${secret}` };
  const machines = createClient(MachineService, transport);
  const has = async (machineId: string): Promise<boolean> => {
    try {
      const answer = await machines.exportMachine({ machineId }, { headers });
      return answer.installations.some((installation) => installation.machineId === machineId);
    } catch (error) {
      if (ConnectError.from(error).code === Code.NotFound) return false;
      throw error;
    }
  };

  for (const id of before) expect(await has(id), id).toBe(true);
  const stats = await createClient(StatsService, transport).getStats({}, { headers });
  const copied = Number(stats.installations) - before.length;
  // Every write acknowledged before the command started is in the copy; the
  // rest of the copy is a prefix of the commit order.
  expect(copied).toBeGreaterThanOrEqual(acknowledgedAtStart);
  expect(copied).toBeLessThanOrEqual(during.length);
  expect(await has(during[copied - 1]!)).toBe(true);
  if (copied < during.length) expect(await has(during[copied]!)).toBe(false);

  // The restored server takes writes too.
  expect((await legacyHeartbeat(restored.url, "after-restore")).status).toBe(200);
  expect(await has("after-restore")).toBe(true);
});

it("on Postgres the command refuses (exit 2) and shows pg_dump, without the password", { timeout: 60_000 }, async () => {
  const out = await folder("fleetbeat-backup-pg-");
  const result = await runCli(["backup", join(out, "x.sqlite"), "--database-url", "postgres://fleetbeat:s3cret@db.example:5432/fleetbeat"]);
  expect(result.code).toBe(2);
  expect(result.stderr).toContain("pg_dump --format=custom");
  expect(result.stderr).toContain("Postgres at db.example:5432/fleetbeat");
  expect(result.stderr).toContain("deploy/README.md");
  expect(result.stderr).not.toContain("s3cret");
  expect(result.stdout).toBe("");
  expect(existsSync(join(out, "x.sqlite"))).toBe(false);
});
