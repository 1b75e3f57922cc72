// Crash consistency (issue 9, "Proof, in CI"): the real server in a child process
// under tracking load (signed Hamustro collections) and DI load (devices
// heartbeating, an operator queueing commands, results coming back), killed with
// SIGKILL mid-load and restarted on the same data. Every event and every command
// result the server acknowledged (200) must be there, exactly once; resending what
// was not acknowledged, as clients do, must add no duplicates; a command whose
// result was acknowledged is never delivered again. SQLite and Postgres.
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import Database from "better-sqlite3";
import pg from "pg";
import { afterEach, expect, test } from "vitest";
import { CollectionSchema } from "../gen/fleetbeat/track/v1/collection_pb.js";
import { createFreshPostgresDatabase } from "./support/postgres.js";
import { prng } from "./support/prng.js";
import { createAdminKey, startServerProcess, waitFor, type ServerProcess } from "./support/process-server.js";

const SECRET = "crash-test-shared-secret";
const EVENTS_PER_COLLECTION = 8;
const TRACK_WORKERS = 4;
const TRACK_SESSIONS_PER_WORKER = 3;
const DI_WORKERS = 4;
const DEVICES_PER_WORKER = 5;
const QUEUE_WORKERS = 2;
/** The kill comes once this much was acknowledged (and at least MIN_LOAD_MS passed). */
const KILL_AFTER = { trackBatches: 200, results: 80, queued: 80 };
const MIN_LOAD_MS = 1_000;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

// ---------------------------------------------------------------------------

const md5 = (data: Uint8Array | string): string => createHash("md5").update(data).digest("hex");

interface Reply {
  status: number;
  text: string;
  /** Seconds from a Retry-After header (429, 503). */
  retryAfter: number | undefined;
}

/** One POST; a network error (the server died, a connection was cut) answers undefined. */
async function post(url: string, headers: Record<string, string>, body: Uint8Array | string): Promise<Reply | undefined> {
  try {
    const response = await fetch(url, { method: "POST", headers, body: typeof body === "string" ? body : new Uint8Array(body) });
    const retryAfter = Number(response.headers.get("retry-after") ?? Number.NaN);
    return { status: response.status, text: await response.text(), retryAfter: Number.isFinite(retryAfter) ? retryAfter : undefined };
  } catch {
    return undefined;
  }
}

/** "Not now, try again" (overload, storage briefly unavailable): not an acknowledgement, and not an error either. */
const isBusy = (reply: Reply | undefined): boolean => reply?.status === 503 || reply?.status === 429;

/**
 * A POST that must get a real answer: network errors (a stale keep-alive
 * connection) and busy answers (503, 429) are retried, as clients do.
 */
async function postSurely(url: string, headers: Record<string, string>, body: Uint8Array | string): Promise<Reply> {
  let last: Reply | undefined;
  for (let attempt = 0; attempt < 20; attempt++) {
    last = await post(url, headers, body);
    if (last && !isBusy(last)) return last;
    // Retry-After when the server gave one (bounded), else a growing pause.
    const pauseMs = last?.retryAfter !== undefined ? Math.min(5_000, last.retryAfter * 1000) : 50 * (attempt + 1);
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
  throw new Error(`no answer from ${url} after 20 attempts (last: ${last?.status} ${last?.text})`);
}

// ---------------------------------------------------------------------------
// Tracking: each session sends collections of EVENTS_PER_COLLECTION new nrs.

interface Batch {
  session: string;
  body: Buffer;
  time: string;
  /** nr → [event, at] */
  events: Map<number, [string, number]>;
}

interface TrackSession {
  deviceId: string;
  clientId: string;
  systemVersion: string;
  productVersion: string;
  session: string;
  nextNr: number;
}

function trackSession(seed: string, index: number): TrackSession {
  const deviceId = createHash("sha256").update(`${seed}-track-${index}`).digest("hex");
  const [clientId, systemVersion, productVersion] = ["crash-app", `14.${index % 5}`, "3.2.1"];
  return { deviceId, clientId, systemVersion, productVersion, session: md5(`${deviceId}:${clientId}:${systemVersion}:${productVersion}`), nextNr: 1 };
}

function nextBatch(s: TrackSession, random: () => number): Batch {
  const at = Math.floor(Date.now() / 1000);
  const events = new Map<number, [string, number]>();
  const payloads = [];
  for (let k = 0; k < EVENTS_PER_COLLECTION; k++) {
    const nr = s.nextNr++;
    const event = `ev.${Math.floor(random() * 1e6).toString(36)}`;
    events.set(nr, [event, at]);
    payloads.push({ at: BigInt(at), event, nr, userId: nr % 97, parameters: `{"nr":${nr}}`, isTesting: false });
  }
  const body = Buffer.from(
    toBinary(
      CollectionSchema,
      create(CollectionSchema, {
        deviceId: s.deviceId,
        clientId: s.clientId,
        session: s.session,
        systemVersion: s.systemVersion,
        productVersion: s.productVersion,
        system: "iOS",
        payloads,
      }),
    ),
  );
  return { session: s.session, body, time: String(at), events };
}

function signedHeaders(batch: Batch): Record<string, string> {
  const signature = createHash("sha256").update(`${batch.time}|${md5(batch.body)}|${SECRET}`).digest("base64");
  return { "content-type": "application/protobuf", "x-hamustro-time": batch.time, "x-hamustro-signature": signature };
}

function sendBatch(base: string, batch: Batch): Promise<Reply | undefined> {
  return post(`${base}/api/v1/track`, signedHeaders(batch), batch.body);
}

// ---------------------------------------------------------------------------
// DI.

interface Device {
  id: string;
  token: string;
  /** Commands received whose result was not acknowledged yet: id → [return, reason]. */
  pending: Map<number, [number, string]>;
}

interface AgentAnswer {
  token: string;
  command: Array<{ id: number; type: number; content: string }> | Record<string, never>;
}

function heartbeatBody(device: Device): string {
  return JSON.stringify({ result: [...device.pending].map(([id, [ret, reason]]) => ({ id, return: ret, reason })) });
}

function commandsOf(answer: AgentAnswer): Array<{ id: number; content: string }> {
  return Array.isArray(answer.command) ? answer.command : [];
}

// ---------------------------------------------------------------------------
// Reading the database after the fact (the same SQL on both dialects).

type Row = Record<string, unknown>;

function sqlReader(storage: { dataDir: string; databaseUrl?: string | undefined }): (sql: string) => Promise<Row[]> {
  if (storage.databaseUrl) {
    const url = storage.databaseUrl;
    return async (sql) => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        return (await client.query<Row>(sql)).rows;
      } finally {
        await client.end();
      }
    };
  }
  return async (sql) => {
    const db = new Database(join(storage.dataDir, "fleetbeat.sqlite"), { readonly: true, fileMustExist: true });
    try {
      return db.prepare(sql).all() as Row[];
    } finally {
      db.close();
    }
  };
}

interface Ledger {
  /** session → nr → [event, at], everything ever sent. */
  sent: Map<string, Map<number, [string, number]>>;
  /** Collections answered 200. */
  acked: Batch[];
  /** Collections sent without an answer (cut by the kill): clients resend these. */
  unacked: Batch[];
  /** Commands whose QueueCommand answered 200: id → [deviceId, content]. */
  queued: Map<number, [string, string]>;
  /** Every content a QueueCommand was sent with (acknowledged or not). */
  queueAttempts: Set<string>;
  /** Results acknowledged by a 200 heartbeat: id → [deviceId, return, reason]. */
  results: Map<number, [string, number, string]>;
}

async function checkStorage(read: (sql: string) => Promise<Row[]>, ledger: Ledger, stage: string): Promise<Record<string, number>> {
  // Tracking: every acknowledged event, as sent; no (session, nr) twice; nothing never sent.
  const rows = await read("select s.session, e.nr, e.event, e.at from track_events e join track_sessions s on s.id = e.session_id");
  const seen = new Map<string, Row>();
  let duplicateEvents = 0;
  let unknownEvents = 0;
  let alteredEvents = 0;
  for (const row of rows) {
    const key = `${String(row.session)}#${Number(row.nr)}`;
    if (seen.has(key)) duplicateEvents++;
    seen.set(key, row);
    const sent = ledger.sent.get(String(row.session))?.get(Number(row.nr));
    if (!sent) unknownEvents++;
    else if (sent[0] !== row.event || sent[1] !== Number(row.at)) alteredEvents++;
  }
  let missingEvents = 0;
  let ackedEvents = 0;
  for (const batch of ledger.acked) {
    for (const nr of batch.events.keys()) {
      ackedEvents++;
      if (!seen.has(`${batch.session}#${nr}`)) missingEvents++;
    }
  }

  // Commands: every acknowledged one once, with its content; no content twice; none we never asked for.
  const commands = await read("select id, device_id, content, state, return_code, reason from agent_commands");
  const byId = new Map(commands.map((row) => [Number(row.id), row]));
  const contents = new Map<string, number>();
  for (const row of commands) contents.set(String(row.content), (contents.get(String(row.content)) ?? 0) + 1);
  const duplicateCommands = [...contents.values()].filter((n) => n > 1).length;
  const unknownCommands = [...contents.keys()].filter((content) => !ledger.queueAttempts.has(content)).length;
  let missingCommands = 0;
  for (const [id, [deviceId, content]] of ledger.queued) {
    const row = byId.get(id);
    if (!row || row.device_id !== deviceId || row.content !== content) missingCommands++;
  }
  // Results: every acknowledged one finished its command with exactly what the device reported.
  let missingResults = 0;
  for (const [id, [deviceId, ret, reason]] of ledger.results) {
    const row = byId.get(id);
    const state = ret === 0 ? "succeeded" : "failed";
    if (!row || row.device_id !== deviceId || row.state !== state || Number(row.return_code) !== ret || row.reason !== reason) missingResults++;
  }
  const figures = {
    ackedEvents,
    storedEvents: rows.length,
    missingEvents,
    duplicateEvents,
    unknownEvents,
    alteredEvents,
    ackedCommands: ledger.queued.size,
    storedCommands: commands.length,
    missingCommands,
    duplicateCommands,
    unknownCommands,
    ackedResults: ledger.results.size,
    missingResults,
  };
  const zeros = { missingEvents: 0, duplicateEvents: 0, unknownEvents: 0, alteredEvents: 0, missingCommands: 0, duplicateCommands: 0, unknownCommands: 0, missingResults: 0 };
  expect(figures, stage).toMatchObject(zeros);
  return figures;
}

// ---------------------------------------------------------------------------

test.each(["sqlite", "postgres"] as const)(
  "%s: kill -9 under tracking and DI load loses no acknowledged event or result and duplicates nothing",
  async (dialect) => {
    const started = Date.now();
    // Where the time goes (ms), for the log line at the end.
    const phases: Record<string, number> = {};
    let mark = started;
    const phase = (name: string): void => {
      phases[name] = Date.now() - mark;
      mark = Date.now();
    };
    const seed = `crash-${dialect}`;
    const random = prng(0x9e3779b9);
    const dataDir = await mkdtemp(join(tmpdir(), "fleetbeat-crash-"));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    let databaseUrl: string | undefined;
    if (dialect === "postgres") {
      // Fails (rather than skips) without FLEETBEAT_TEST_POSTGRES_URL: a child process cannot share PGlite.
      const database = await createFreshPostgresDatabase();
      cleanups.push(() => database.drop());
      databaseUrl = database.url;
    }
    const storage = { dataDir, databaseUrl };
    const admin = await createAdminKey(storage);
    const env = { FLEETBEAT_TRACK_SECRETS: JSON.stringify({ secret: SECRET }) };
    phase("key");
    let server: ServerProcess = await startServerProcess({ ...storage, env });
    cleanups.push(() => server.kill9());
    phase("start");

    const ledger: Ledger = { sent: new Map(), acked: [], unacked: [], queued: new Map(), queueAttempts: new Set(), results: new Map() };
    const operator = { "content-type": "application/json", authorization: `Bearer ${admin}` };

    // Every device registers before the load: the kill never cuts a registration.
    const devices: Device[] = [];
    for (let i = 0; i < DI_WORKERS * DEVICES_PER_WORKER; i++) {
      const id = `crash-${seed}-${i}`;
      const reply = await postSurely(`${server.url}/online`, { "content-type": "application/json", "x-di-deviceid": id }, JSON.stringify({ devicename: id, ip: "10.0.0.1", macaddress: "00:0c:29:59:ab:c6", os: "Linux" }));
      expect(reply.status, reply.text).toBe(200);
      devices.push({ id, token: (JSON.parse(reply.text) as AgentAnswer).token, pending: new Map() });
    }

    phase("register");
    let killed = false;
    let inFlight = 0;
    const unexpected: string[] = [];
    const counts = { trackAcked: 0, resultsAcked: 0, queuedAcked: 0 };

    async function trackWorker(w: number): Promise<void> {
      const sessions = Array.from({ length: TRACK_SESSIONS_PER_WORKER }, (_, i) => trackSession(seed, w * TRACK_SESSIONS_PER_WORKER + i));
      for (let round = 0; !killed; round++) {
        const s = sessions[round % sessions.length]!;
        const batch = nextBatch(s, random);
        let sent = ledger.sent.get(batch.session);
        if (!sent) ledger.sent.set(batch.session, (sent = new Map()));
        for (const [nr, value] of batch.events) sent.set(nr, value);
        inFlight++;
        const reply = await sendBatch(server.url, batch);
        inFlight--;
        if (reply?.status === 200) {
          ledger.acked.push(batch);
          counts.trackAcked++;
        } else {
          if (reply && !isBusy(reply)) unexpected.push(`track ${reply.status} ${reply.text}`);
          ledger.unacked.push(batch);
        }
      }
    }

    async function agentWorker(w: number): Promise<void> {
      const mine = devices.slice(w * DEVICES_PER_WORKER, (w + 1) * DEVICES_PER_WORKER);
      for (let round = 0; !killed; round++) {
        const device = mine[round % mine.length]!;
        const reporting = new Map(device.pending);
        inFlight++;
        const reply = await post(`${server.url}/heartbeat`, { "content-type": "application/json", "x-di-deviceid": device.id, "x-di-token": device.token }, heartbeatBody(device));
        inFlight--;
        if (reply?.status !== 200) {
          if (reply && !isBusy(reply)) unexpected.push(`heartbeat ${reply.status} ${reply.text}`);
          continue;
        }
        const answer = JSON.parse(reply.text) as AgentAnswer;
        device.token = answer.token;
        for (const [id, [ret, reason]] of reporting) {
          ledger.results.set(id, [device.id, ret, reason]);
          device.pending.delete(id);
          counts.resultsAcked++;
        }
        for (const command of commandsOf(answer)) {
          if (!ledger.results.has(command.id)) device.pending.set(command.id, [command.id % 3 === 0 ? 1 : 0, `done ${command.content}`]);
        }
      }
    }

    let queueSerial = 0;
    async function queueWorker(): Promise<void> {
      while (!killed) {
        const device = devices[Math.floor(random() * devices.length)]!;
        const content = `${seed}-q-${queueSerial++}`;
        ledger.queueAttempts.add(content);
        inFlight++;
        const reply = await post(`${server.url}/fleetbeat.operator.v1.CommandService/QueueCommand`, operator, JSON.stringify({ target: { deviceId: device.id }, type: 1, content }));
        inFlight--;
        if (reply?.status !== 200) {
          if (reply && !isBusy(reply)) unexpected.push(`queue ${reply.status} ${reply.text}`);
          continue;
        }
        const commands = (JSON.parse(reply.text) as { commands: Array<{ id: string; deviceId: string; content: string }> }).commands;
        expect(commands).toHaveLength(1);
        ledger.queued.set(Number(commands[0]!.id), [commands[0]!.deviceId, commands[0]!.content]);
        counts.queuedAcked++;
      }
    }

    const loadStarted = Date.now();
    const workers = [
      ...Array.from({ length: TRACK_WORKERS }, (_, w) => trackWorker(w)),
      ...Array.from({ length: DI_WORKERS }, (_, w) => agentWorker(w)),
      ...Array.from({ length: QUEUE_WORKERS }, () => queueWorker()),
    ];
    await waitFor(
      () =>
        unexpected.length > 0 ||
        (Date.now() - loadStarted >= MIN_LOAD_MS &&
          counts.trackAcked >= KILL_AFTER.trackBatches &&
          counts.resultsAcked >= KILL_AFTER.results &&
          counts.queuedAcked >= KILL_AFTER.queued),
      60_000,
      `load to reach ${JSON.stringify(KILL_AFTER)} (reached ${JSON.stringify(counts)})`,
    );
    expect(unexpected, "answers other than 200 before the kill").toEqual([]);
    // Mid-load: requests are on the wire when the process dies.
    const inFlightAtKill = inFlight;
    expect(inFlightAtKill).toBeGreaterThan(0);
    const loadMs = Date.now() - loadStarted;
    await server.kill9();
    killed = true;
    await Promise.all(workers);
    expect(unexpected, "answers other than 200 during the load").toEqual([]);

    // Restart on the same data; check before any client resends a thing.
    phase("load");
    server = await startServerProcess({ ...storage, env });
    phase("restart");
    const read = sqlReader(storage);
    const afterRestart = await checkStorage(read, ledger, "right after the restart");

    // Clients resend what was not acknowledged and report what they ran.
    for (const batch of ledger.unacked) {
      const reply = await postSurely(`${server.url}/api/v1/track`, signedHeaders(batch), batch.body);
      expect(reply.status, `a resent collection: ${reply.text}`).toBe(200);
      ledger.acked.push(batch);
    }
    const finishedCommands = new Set(ledger.results.keys());
    const redelivered: number[] = [];
    for (let pass = 0; pass < 2; pass++) {
      for (const device of devices) {
        const reporting = new Map(device.pending);
        const reply = await postSurely(`${server.url}/heartbeat`, { "content-type": "application/json", "x-di-deviceid": device.id, "x-di-token": device.token }, heartbeatBody(device));
        expect(reply.status, `heartbeat of ${device.id} after the restart: ${reply.text}`).toBe(200);
        const answer = JSON.parse(reply.text) as AgentAnswer;
        device.token = answer.token;
        for (const [id, [ret, reason]] of reporting) {
          ledger.results.set(id, [device.id, ret, reason]);
          device.pending.delete(id);
        }
        for (const command of commandsOf(answer)) {
          if (finishedCommands.has(command.id)) redelivered.push(command.id);
          device.pending.set(command.id, [0, `done ${command.content}`]);
        }
      }
    }
    expect(redelivered, "commands delivered again although their result was acknowledged").toEqual([]);

    phase("resend");
    expect(await server.stop()).toBe(0);
    const final = await checkStorage(read, ledger, "after clients resent and the server stopped");
    // Every collection is now acknowledged: all events are there, once.
    expect(final.storedEvents).toBe(final.ackedEvents);

    console.info(
      `[crash ${dialect}] load ${loadMs} ms, ${inFlightAtKill} requests in flight at the kill, ${ledger.unacked.length} collections resent; ` +
        `after restart ${JSON.stringify(afterRestart)}; final ${JSON.stringify(final)}; phases ${JSON.stringify(phases)}; wall ${Date.now() - started} ms`,
    );
  },
  // About 15 s on a quiet 2-core machine. On a busy one (load average 15) each of the three process
  // starts (keys create, serve, serve again) took ~10 s: the timeout leaves room for that.
  120_000,
);
