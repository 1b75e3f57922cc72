// FollowEvents with several servers on one Postgres database (issue 11): two real
// server processes share a fresh database.
//   - A follower on process A gets an event posted to process B within one second.
//   - An event whose transaction took its id before, but committed after, an event
//     the follower already got (ids come from a sequence, so a transaction holding
//     id n can commit after one holding n + 1) still comes, once; so does one whose
//     transaction took its transaction id after the other's.
//   - A write transaction left open (here in another database of the cluster)
//     holds nothing back.
// The late transactions are played on a connection of the test's own. Without
// FLEETBEAT_TEST_POSTGRES_URL the file is skipped (a child process cannot share
// PGlite); under CI=true the variable is required.
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventService, type Event } from "../gen/fleetbeat/operator/v1/events_pb.js";
import { CollectionSchema } from "../gen/fleetbeat/track/v1/collection_pb.js";
import { createFreshPostgresDatabase, testPostgresUrl, type FreshPostgresDatabase } from "./support/postgres.js";
import { createAdminKey, startServerProcess, waitFor, type ServerProcess } from "./support/process-server.js";

const adminUrl = testPostgresUrl();
const SECRET = "follow-replicas-secret";
const md5 = (data: Uint8Array | string): string => createHash("md5").update(data).digest("hex");

const device = { deviceId: "f".repeat(64), clientId: "follow-app", systemVersion: "1", productVersion: "1.0.0" };
const session = md5(`${device.deviceId}:${device.clientId}:${device.systemVersion}:${device.productVersion}`);
let nextNr = 1;

/** POST /api/v1/track of one signed collection of events named `names`; answers their nrs once the server said 200 (committed). */
async function track(server: ServerProcess, names: string[]): Promise<number[]> {
  const at = Math.floor(Date.now() / 1000);
  const nrs = names.map(() => nextNr++);
  const body = toBinary(
    CollectionSchema,
    create(CollectionSchema, { ...device, session, system: "Linux", payloads: names.map((event, i) => ({ at: BigInt(at), event, nr: nrs[i]!, isTesting: false })) }),
  );
  const time = String(at);
  const signature = createHash("sha256").update(`${time}|${md5(body)}|${SECRET}`).digest("base64");
  const response = await fetch(`${server.url}/api/v1/track`, {
    method: "POST",
    headers: { "content-type": "application/protobuf", "x-hamustro-time": time, "x-hamustro-signature": signature },
    body,
  });
  expect(response.status, await response.text()).toBe(200);
  return nrs;
}

let database: FreshPostgresDatabase | undefined;
let dataDir: string | undefined;
let a: ServerProcess | undefined;
let b: ServerProcess | undefined;
let adminKey = "";

beforeAll(async () => {
  if (!adminUrl) return;
  database = await createFreshPostgresDatabase(adminUrl);
  dataDir = await mkdtemp(join(tmpdir(), "fleetbeat-follow-replicas-"));
  const storage = { dataDir, databaseUrl: database.url };
  adminKey = await createAdminKey(storage);
  const env = { FLEETBEAT_TRACK_SECRETS: JSON.stringify({ secret: SECRET }) };
  [a, b] = await Promise.all([startServerProcess({ ...storage, env }), startServerProcess({ ...storage, env })]);
});

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await database?.drop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

/** A FollowEvents stream on `server`, collecting what it receives (with the time of arrival) until stop(). */
function follow(server: ServerProcess): { received: Array<{ event: Event; at: number }>; stop(): void } {
  const abort = new AbortController();
  const received: Array<{ event: Event; at: number }> = [];
  const client = createClient(EventService, createGrpcTransport({ baseUrl: server.url }));
  void (async () => {
    try {
      for await (const response of client.followEvents({}, { headers: { authorization: `Bearer ${adminKey}` }, signal: abort.signal })) {
        if (response.event) received.push({ event: response.event, at: performance.now() });
      }
    } catch (error) {
      if (!abort.signal.aborted) throw error;
    }
  })();
  return { received, stop: () => abort.abort() };
}

const count = (received: Array<{ event: Event }>, name: string): number => received.filter((r) => r.event.event === name).length;

/** Posts probes to `via` until the follower has one: then it is surely subscribed. */
async function untilFollowing(follower: { received: Array<{ event: Event }> }, via: ServerProcess, tag: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (let i = 0; ; i++) {
    const name = `probe-${tag}-${i}`;
    await track(via, [name]);
    try {
      await waitFor(() => count(follower.received, name) > 0, 1_000, name);
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
  }
}

describe.skipIf(!adminUrl)("FollowEvents with two server processes on one Postgres database", () => {
  it("a follower on process A receives an event posted to process B within one second", async () => {
    const follower = follow(a!);
    try {
      await untilFollowing(follower, b!, "latency");
      const latencies: number[] = [];
      for (let i = 0; i < 3; i++) {
        const name = `hello-${i}`;
        await track(b!, [name]);
        const acknowledged = performance.now();
        await waitFor(() => count(follower.received, name) > 0, 10_000, `${name} on process A`);
        latencies.push(follower.received.find((r) => r.event.event === name)!.at - acknowledged);
      }
      console.log(`follow latency from B's 200 to A's follower (ms): ${latencies.map((ms) => ms.toFixed(1)).join(", ")}`);
      for (const ms of latencies) expect(ms).toBeLessThan(1_000);
    } finally {
      follower.stop();
    }
  });

  it("a write transaction left open elsewhere holds no event back", async () => {
    // A transaction with a transaction id, open in another database of the same cluster.
    const elsewhere = await createFreshPostgresDatabase(adminUrl);
    const idle = new pg.Client({ connectionString: elsewhere.url });
    await idle.connect();
    const follower = follow(a!);
    try {
      await idle.query("BEGIN");
      await idle.query("CREATE TABLE held (id int)");
      await untilFollowing(follower, b!, "open-transaction");
      await track(b!, ["while-open"]);
      const acknowledged = performance.now();
      await waitFor(() => count(follower.received, "while-open") > 0, 10_000, "while-open");
      expect(follower.received.find((r) => r.event.event === "while-open")!.at - acknowledged).toBeLessThan(1_000);
    } finally {
      follower.stop();
      await idle.end();
      await elsewhere.drop();
    }
  });

  it.each([
    ["the late transaction also took its transaction id first", false],
    ["the late transaction took its transaction id after the other", true],
  ])("an event committed after one with a higher id still comes, exactly once (%s)", async (_name, otherTakesXidFirst) => {
    const tag = otherTakesXidFirst ? "reversed" : "ordered";
    const late = new pg.Client({ connectionString: database!.url });
    const other = new pg.Client({ connectionString: database!.url });
    await late.connect();
    await other.connect();
    const follower = follow(a!);
    try {
      // The session row exists (first collection); the follower is live.
      await untilFollowing(follower, b!, tag);
      const insert = (client: pg.Client, name: string) =>
        client.query<{ id: string; xid: string }>(
          `INSERT INTO track_events (session_id, nr, at, event, is_testing, received_at)
           VALUES ((SELECT id FROM track_sessions WHERE session = $1), $2, $3, $4, false, $5) RETURNING id::text, pg_current_xact_id()::text AS xid`,
          [session, nextNr++, Math.floor(Date.now() / 1000), name, Date.now()],
        );
      await other.query("BEGIN");
      if (otherTakesXidFirst) await other.query("SELECT pg_current_xact_id()");
      await late.query("BEGIN");
      const lateRow = (await insert(late, `late-${tag}`)).rows[0]!;
      const otherRow = (await insert(other, `other-${tag}`)).rows[0]!;
      // The scenario as intended: the late event holds the lower id (and, reversed, the higher transaction id).
      expect(BigInt(lateRow.id)).toBeLessThan(BigInt(otherRow.id));
      expect(BigInt(lateRow.xid) > BigInt(otherRow.xid)).toBe(otherTakesXidFirst);
      await other.query("COMMIT");
      // The feed passes the other event while the late one is still uncommitted.
      await waitFor(() => count(follower.received, `other-${tag}`) > 0, 10_000, `other-${tag}`);
      await late.query("COMMIT");
      await waitFor(() => count(follower.received, `late-${tag}`) > 0, 10_000, `late-${tag} (committed late under a lower id)`);
      // Two more reads of the feed after it: a repeat would show by then.
      for (const sentinel of [`after-${tag}-1`, `after-${tag}-2`]) {
        await track(b!, [sentinel]);
        await waitFor(() => count(follower.received, sentinel) > 0, 10_000, sentinel);
      }
      expect([`late-${tag}`, `other-${tag}`, `after-${tag}-1`, `after-${tag}-2`].map((name) => count(follower.received, name))).toEqual([1, 1, 1, 1]);
    } finally {
      follower.stop();
      await late.end();
      await other.end();
    }
  });
});
