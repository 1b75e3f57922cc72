// Every operator command against a real server (port 0, SQLite in a temp dir),
// run in-process through the same program frame as `fleetbeat` (cli/program.ts)
// with captured stdout/stderr. Devices register and report over the real DI
// legacy paths, installations arrive over POST /hb/newHb, events are stored with
// one bulk write (the tracking wire has its own tests).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import type { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildProgram, runProgram } from "../cli/program.js";
import { commandGroups, operatorCommandGroups } from "../cli/fleetbeat.js";
import type { TrackEventRow } from "../server/store/track.js";
import { operatorSecret, startTestServer, type TestServer } from "./support/server.js";

class Capture extends Writable {
  text = "";
  constructor(readonly isTTY = false) {
    super();
  }
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.text += chunk.toString();
    callback();
  }
}

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

let t: TestServer;
let admin: string;
let reader: string;
let home: string;
const scratch = mkdtempSync(join(tmpdir(), "fleetbeat-opcli-"));

beforeAll(async () => {
  t = await startTestServer();
  admin = await operatorSecret(t.server.store, "admin");
  reader = await operatorSecret(t.server.store, "read");
  home = mkdtempSync(join(tmpdir(), "fleetbeat-opcli-home-"));
});

afterAll(async () => {
  await t?.dispose();
  rmSync(scratch, { recursive: true, force: true });
  rmSync(home, { recursive: true, force: true });
});

/** Runs `fleetbeat <args>` in-process with the admin key unless told otherwise. */
async function cli(args: readonly string[], options: { key?: string | null; env?: Record<string, string>; tty?: boolean } = {}): Promise<Ran> {
  const stdout = new Capture();
  const stderr = new Capture(options.tty === true);
  const key = options.key === undefined ? admin : options.key;
  const env: NodeJS.ProcessEnv = { FLEETBEAT_SERVER: t.server.url, ...(key !== null ? { FLEETBEAT_KEY: key } : {}), ...options.env };
  const program = buildProgram("0.0.0-test", [operatorCommandGroups({ stdout, stderr, env, home, now: Date.now })]);
  const output = { writeOut: (text: string) => void stdout.write(text), writeErr: (text: string) => void stderr.write(text) };
  const visit = (command: Command): void => {
    command.configureOutput(output);
    command.commands.forEach(visit);
  };
  visit(program);
  const code = await runProgram(program, ["node", "fleetbeat", ...args]);
  return { code, stdout: stdout.text, stderr: stderr.text };
}

function json<T = unknown>(ran: Ran): T {
  expect(ran.code, ran.stderr).toBe(0);
  return JSON.parse(ran.stdout) as T;
}

async function post(path: string, headers: Record<string, string>, body: unknown): Promise<{ status: number; json: any }> {
  const response = await fetch(new URL(path, t.server.url), {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, json: response.status === 200 ? JSON.parse(text) : undefined };
}

/** Registers a DI device over POST /online; returns its token. */
async function register(deviceId: string, os = "Windows 10"): Promise<string> {
  const answer = await post("/online", { "X-DI-DEVICEID": deviceId }, { devicename: `name-${deviceId}`, ip: "10.0.0.7", macaddress: "aa:bb:cc:dd:ee:ff", os });
  expect(answer.status).toBe(200);
  return answer.json.token as string;
}

async function heartbeat(deviceId: string, token: string, result: unknown[] = []): Promise<{ token: string; command: unknown }> {
  const answer = await post("/heartbeat", { "X-DI-DEVICEID": deviceId, "X-DI-TOKEN": token }, { result });
  expect(answer.status).toBe(200);
  return answer.json;
}

/** Stores `count` events of one session in one bulk write, nr from `firstNr`. */
async function storeEvents(session: string, count: number, options: { event?: (i: number) => string; firstNr?: number; deviceId?: string } = {}): Promise<void> {
  const firstNr = options.firstNr ?? 1;
  const events: TrackEventRow[] = [];
  for (let i = 0; i < count; i++) {
    events.push({
      at: 1_700_000_000 + i,
      event: options.event?.(i) ?? "open",
      nr: firstNr + i,
      userId: i % 3 === 0 ? null : i,
      ip: "192.0.2.1",
      parameters: i % 2 === 0 ? "" : `{"i":${i}}`,
      isTesting: false,
    });
  }
  const [outcome] = await t.server.store.apply([
    {
      kind: "insertEvents",
      session: {
        session,
        deviceId: options.deviceId ?? `device-of-${session}`,
        clientId: "client-1",
        systemVersion: "10.10",
        productVersion: "1.1.2",
        system: "OSX",
        productGitHash: null,
      },
      events,
      receivedAt: Date.now(),
    },
  ]);
  expect(outcome?.ok).toBe(true);
}

describe("auth: what the CLI answers for each kind of key", () => {
  it("no key is exit 3 before any request", async () => {
    const ran = await cli(["stats"], { key: null });
    expect(ran.code).toBe(3);
    expect(ran.stderr).toMatch(/no operator key/);
  });

  it("a wrong key is exit 3 (401 from the server)", async () => {
    const ran = await cli(["devices", "list"], { key: "fbk_not-a-real-key" });
    expect(ran.code).toBe(3);
    expect(ran.stderr).toMatch(/not authenticated: unknown or revoked operator API key/);
  });

  it("a read-only key reads, but a write is exit 3 (403)", async () => {
    expect((await cli(["releases", "list"], { key: reader })).code).toBe(0);
    const write = await cli(["releases", "set", "9.9.9"], { key: reader });
    expect(write.code).toBe(3);
    expect(write.stderr).toMatch(/permission denied/);
    const keys = await cli(["keys", "list"], { key: reader });
    expect(keys.code).toBe(3);
  });

  it("a revoked key stops working at once", async () => {
    const issued = await cli(["keys", "issue", "--name", "short-lived", "--scope", "read", "--json"]);
    const created = json<{ key: { id: string }; secret: string }>(issued);
    expect((await cli(["stats"], { key: created.secret })).code).toBe(0);
    const revoked = await cli(["keys", "revoke", created.key.id, "--yes"]);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toMatch(new RegExp(`revoked key ${created.key.id} \\(short-lived\\)`));
    const after = await cli(["stats"], { key: created.secret });
    expect(after.code).toBe(3);
  });

  it("device credentials never open the operator API, and operator keys never work on device endpoints", async () => {
    const deviceToken = await register("dev-intruder");
    const asKey = await cli(["devices", "list"], { key: deviceToken });
    expect(asKey.code).toBe(3);
    expect(asKey.stderr).toMatch(/unknown or revoked operator API key/);
    const asToken = await fetch(new URL("/heartbeat", t.server.url), {
      method: "POST",
      headers: { "content-type": "application/json", "X-DI-DEVICEID": "dev-intruder", "X-DI-TOKEN": admin.slice(0, 64), authorization: `Bearer ${admin}` },
      body: '{"result":[]}',
    });
    expect(asToken.status).toBe(401);
    expect((await cli(["devices", "delete", "dev-intruder", "--yes"])).code).toBe(0);
  });

  it("--key beats FLEETBEAT_KEY", async () => {
    expect((await cli(["stats", "--key", admin], { key: "fbk_wrong" })).code).toBe(0);
    expect((await cli(["stats", "--key", "fbk_wrong"], { key: admin })).code).toBe(3);
  });
});

describe("keys", () => {
  it("issue prints the secret once on stdout; list shows the key with its last use; revoke hides it from list", async () => {
    const issued = await cli(["keys", "issue", "--name", "ci robot", "--scope", "admin"]);
    expect(issued.code).toBe(0);
    const secret = issued.stdout.trim();
    expect(secret).toMatch(/^fbk_[A-Za-z0-9_-]{43}$/);
    expect(issued.stderr).toMatch(/only time the key is shown/);
    expect((await cli(["stats"], { key: secret })).code).toBe(0);

    const table = await cli(["keys", "list"]);
    expect(table.code).toBe(0);
    expect(table.stdout.split("\n")[0]).toMatch(/^ID\s+NAME\s+SCOPE\s+CREATED\s+LAST USED\s+REVOKED$/);
    const row = table.stdout.split("\n").find((line) => line.includes("ci robot"));
    expect(row).toMatch(/admin\s+\d{4}-\d\d-\d\dT\S+Z\s+\d{4}-\d\d-\d\dT\S+Z\s+-$/);

    const listed = json<Array<{ id: string; name: string; scope: string; lastUsedAt?: string }>>(await cli(["keys", "list", "--json"]));
    const robot = listed.find((key) => key.name === "ci robot");
    expect(robot?.scope).toBe("KEY_SCOPE_ADMIN");
    expect(robot?.lastUsedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    expect(JSON.stringify(listed)).not.toContain(secret);

    expect((await cli(["keys", "revoke", robot!.id, "--yes"])).code).toBe(0);
    const active = json<Array<{ name: string }>>(await cli(["keys", "list", "--json"]));
    expect(active.map((key) => key.name)).not.toContain("ci robot");
    const all = json<Array<{ name: string; revokedAt?: string }>>(await cli(["keys", "list", "--all", "--json"]));
    expect(all.find((key) => key.name === "ci robot")?.revokedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  });

  it("whoami shows the key in use, for a read key too; --json gives the ApiKey", async () => {
    const table = await cli(["keys", "whoami"], { key: reader });
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^name:\s+test read$/m);
    expect(table.stdout).toMatch(/^scope:\s+read$/m);
    expect(table.stdout).toMatch(/^created:\s+\d{4}-\d\d-\d\dT\S+Z$/m);
    const asAdmin = json<{ id: string; name: string; scope: string; createdAt: string }>(await cli(["keys", "whoami", "--json"]));
    expect(asAdmin).toMatchObject({ name: "test admin", scope: "KEY_SCOPE_ADMIN" });
    const listed = json<Array<{ id: string; name: string }>>(await cli(["keys", "list", "--json"]));
    expect(listed.find((key) => key.name === "test admin")?.id).toBe(asAdmin.id);
    expect(table.stdout).toMatch(new RegExp(`^id:\\s+${listed.find((key) => key.name === "test read")?.id}$`, "m"));
    expect((await cli(["keys", "whoami"], { key: "fbk_not-a-real-key" })).code).toBe(3);
  });

  it("revoking an unknown key is exit 4; a bad scope is exit 2", async () => {
    expect((await cli(["keys", "revoke", "no-such-id", "--yes"])).code).toBe(4);
    expect((await cli(["keys", "issue", "--name", "x", "--scope", "owner"])).code).toBe(2);
  });
});

describe("stats", () => {
  it("prints the server's figures as a table and as JSON", async () => {
    const table = await cli(["stats"]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^database:\s+sqlite, \d/m);
    expect(table.stdout).toMatch(/^uptime:\s+\d/m);
    const figures = json<Record<string, unknown>>(await cli(["stats", "--json"]));
    expect(figures.databaseDialect).toBe("sqlite");
    expect(Number(figures.databaseBytes)).toBeGreaterThan(0);
    expect(figures).toHaveProperty("events");
    expect(figures).toHaveProperty("eventsPerSecond");
  });

  it("--series prints events and heartbeats per step (a read key will do); --window and --step need it; a bad step is exit 2", async () => {
    const table = await cli(["stats", "--series"], { key: reader });
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^START\s+EVENTS\s+HEARTBEATS$/);
    expect(lines).toHaveLength(61);
    expect(lines[60]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:00Z\s+[\d,]+\s+[\d,]+$/);
    const series = json<{ points: Array<{ start: string; events: string; heartbeats: string }> }>(
      await cli(["stats", "--series", "--window", "10m", "--step", "5m", "--json"], { key: reader }),
    );
    expect(series.points).toHaveLength(2);
    expect(Date.parse(series.points[1]!.start) - Date.parse(series.points[0]!.start)).toBe(300_000);
    expect(Date.parse(series.points[1]!.start) % 300_000).toBe(0);
    expect(series.points[0]).toEqual({ start: expect.any(String), events: expect.any(String), heartbeats: expect.any(String) });

    const alone = await cli(["stats", "--window", "10m"]);
    expect(alone.code).toBe(2);
    expect(alone.stderr).toMatch(/--window and --step go with --series/);
    const badStep = await cli(["stats", "--series", "--step", "90s"]);
    expect(badStep.code).toBe(2);
    expect(badStep.stderr).toMatch(/step must be a whole number of minutes/);
  });
});

describe("devices and commands", () => {
  const tokens = new Map<string, string>();
  beforeAll(async () => {
    for (const [id, os] of [
      ["dev-alpha", "Windows 10"],
      ["dev-beta", "Windows 10"],
      ["dev-gamma", "Ubuntu 22.04"],
    ] as const) {
      tokens.set(id, await register(id, os));
    }
  });

  it("devices list: table, filters, JSON", async () => {
    const table = await cli(["devices", "list"]);
    expect(table.code).toBe(0);
    expect(table.stdout.split("\n")[0]).toMatch(/^DEVICE ID\s+NAME\s+OS\s+IP\s+LABELS\s+STATUS\s+LAST SEEN$/);
    for (const id of tokens.keys()) expect(table.stdout).toMatch(new RegExp(`^${id}\\s+name-${id}\\s.*\\sonline\\s+\\d+s ago$`, "m"));

    const windows = json<Array<{ deviceId: string }>>(await cli(["devices", "list", "--os", "Windows 10", "--json"]));
    expect(windows.map((d) => d.deviceId).sort()).toEqual(["dev-alpha", "dev-beta"]);
    expect(json<unknown[]>(await cli(["devices", "list", "--offline", "--json"]))).toEqual([]);
    expect(json<unknown[]>(await cli(["devices", "list", "--online", "--json"])).length).toBeGreaterThanOrEqual(3);
    expect(json<Array<{ deviceId: string }>>(await cli(["devices", "list", "--query", "dev-g", "--json"])).map((d) => d.deviceId)).toEqual(["dev-gamma"]);
    expect(json<unknown[]>(await cli(["devices", "list", "--limit", "2", "--json"])).length).toBe(2);
    expect((await cli(["devices", "list", "--online", "--offline"])).code).toBe(2);
    expect((await cli(["devices", "list", "--limit", "zero"])).code).toBe(2);
  });

  it("devices label adds and removes; list filters by label", async () => {
    const added = await cli(["devices", "label", "dev-alpha", "--add", "lab,floor-2", "--add", "canary"]);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toMatch(/^dev-alpha: .*canary/);
    await cli(["devices", "label", "dev-beta", "--add", "lab"]);
    const removed = json<{ labels: string[] }>(await cli(["devices", "label", "dev-alpha", "--remove", "floor-2", "--json"]));
    expect(removed.labels.sort()).toEqual(["canary", "lab"]);
    const lab = json<Array<{ deviceId: string }>>(await cli(["devices", "list", "--label", "lab", "--json"]));
    expect(lab.map((d) => d.deviceId).sort()).toEqual(["dev-alpha", "dev-beta"]);
    expect((await cli(["devices", "label", "dev-alpha"])).code).toBe(2);
    expect((await cli(["devices", "label", "dev-nobody", "--add", "x"])).code).toBe(4);
  });

  it("commands queue to one device, a list, a label and all; list by state; cancel", async () => {
    const one = await cli(["commands", "queue", "--device", "dev-alpha", "--type", "1", "--content", "whitelist=a,b"]);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout.split("\n")[0]).toMatch(/^\s*ID\s+DEVICE\s+TYPE\s+STATE/);
    expect(one.stdout).toMatch(/dev-alpha\s+1\s+queued/);

    const list = json<Array<{ deviceId: string; id: string }>>(await cli(["commands", "queue", "--device", "dev-alpha,dev-gamma", "--type", "2", "--json"]));
    expect(list.map((c) => c.deviceId).sort()).toEqual(["dev-alpha", "dev-gamma"]);
    // A label or all devices is a campaign: answered at once with its id and counts.
    const labelled = json<{ id: string; state: string; estimated: string; target: { label: string } }>(await cli(["commands", "queue", "--label", "lab", "--type", "7", "--json"]));
    expect(labelled).toMatchObject({ state: "CAMPAIGN_STATE_RUNNING", estimated: "2", target: { label: "lab" } });
    const everyone = json<{ id: string; options: Record<string, unknown> }>(
      await cli(["commands", "queue", "--all", "--type", "8", "--ttl", "1h", "--rate", "60", "--abort-failures", "20", "--abort-after", "5", "--json"]),
    );
    expect(everyone.options).toMatchObject({ devicesPerMinute: 60, abortFailurePercent: 20, abortMinResults: 5 });
    const shown = await cli(["campaigns", "show", everyone.id]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/target:\s+all devices/);
    expect(shown.stdout).toMatch(/rate:\s+60 devices\/min/);
    // The job gives the label's devices their command within a few seconds.
    const until = Date.now() + 15_000;
    let ofLabel: Array<{ deviceId: string }> = [];
    while (ofLabel.length < 2 && Date.now() < until) {
      ofLabel = json<Array<{ deviceId: string }>>(await cli(["commands", "list", "--campaign", labelled.id, "--json"]));
      if (ofLabel.length < 2) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(ofLabel.map((c) => c.deviceId).sort()).toEqual(["dev-alpha", "dev-beta"]);

    expect((await cli(["commands", "queue", "--type", "1"])).code).toBe(2);
    expect((await cli(["commands", "queue", "--type", "1", "--all", "--label", "lab"])).code).toBe(2);
    expect((await cli(["commands", "queue", "--type", "1", "--all", "--ttl", "soon"])).code).toBe(2);
    expect((await cli(["commands", "queue", "--type", "1", "--device", "dev-alpha", "--rate", "5"])).code).toBe(2);
    expect((await cli(["commands", "queue", "--type", "1", "--all", "--abort-failures", "101"])).code).toBe(2);

    const queued = json<Array<{ id: string; state: string }>>(await cli(["commands", "list", "--state", "queued", "--json"]));
    expect(queued.length).toBeGreaterThanOrEqual(5);
    expect(new Set(queued.map((c) => c.state))).toEqual(new Set(["COMMAND_STATE_QUEUED"]));
    const ofGamma = json<Array<{ deviceId: string }>>(await cli(["commands", "list", "--device", "dev-gamma", "--json"]));
    expect(new Set(ofGamma.map((c) => c.deviceId))).toEqual(new Set(["dev-gamma"]));
    expect(json<unknown[]>(await cli(["commands", "list", "--limit", "3", "--json"])).length).toBe(3);

    const cancelIds = list.filter((c) => c.deviceId === "dev-gamma").map((c) => c.id);
    const cancelled = await cli(["commands", "cancel", ...cancelIds, "--yes"]);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(cancelled.stdout.match(/cancelled/g)?.length).toBe(cancelIds.length);
    // Campaigns: cancel, list, purge what they left.
    const stopped = await cli(["campaigns", "cancel", everyone.id, "--yes"]);
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(stopped.stdout).toMatch(/state:\s+cancelled \(cancelled by an operator\)/);
    const listed = json<Array<{ id: string; state: string }>>(await cli(["campaigns", "list", "--json"]));
    expect(listed.find((c) => c.id === everyone.id)?.state).toBe("CAMPAIGN_STATE_CANCELLED");
    expect(listed.map((c) => c.id)).toContain(labelled.id);
    // The job cancels the stopped campaign's open commands shortly after.
    const swept = Date.now() + 15_000;
    while (json<unknown[]>(await cli(["commands", "list", "--campaign", everyone.id, "--state", "queued", "--json"])).length > 0 && Date.now() < swept) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(json<unknown[]>(await cli(["commands", "list", "--campaign", everyone.id, "--state", "queued", "--json"]))).toEqual([]);
    expect((await cli(["campaigns", "list"])).stdout.split("\n")[0]).toMatch(/^\s*ID\s+STATE\s+TARGET/);
    expect((await cli(["campaigns", "show", "999999"])).code).toBe(4);
    expect((await cli(["commands", "purge", "--yes"])).code).toBe(2);
    const purged = await cli(["commands", "purge", "--state", "cancelled", "--finished-before", "2999-01-01T00:00:00Z", "--yes"]);
    expect(purged.code, purged.stderr).toBe(0);
    expect(purged.stdout).toMatch(/^deleted \d+ command\(s\)/);
    expect(json<unknown[]>(await cli(["commands", "list", "--state", "cancelled", "--json"]))).toEqual([]);
    expect((await cli(["commands", "cancel", "abc", "--yes"])).code).toBe(2);
    expect((await cli(["commands", "list", "--state", "lost"])).code).toBe(2);
  });

  it("commands wait: 0 when all succeed, 5 when one failed or is still pending", async () => {
    // Fresh device, so earlier commands do not ride along.
    let token = await register("dev-waiter", "Ubuntu 22.04");
    const ok = json<Array<{ id: string }>>(await cli(["commands", "queue", "--device", "dev-waiter", "--type", "1", "--json"]));
    const bad = json<Array<{ id: string }>>(await cli(["commands", "queue", "--device", "dev-waiter", "--type", "2", "--json"]));
    const [okId, badId] = [Number(ok[0]!.id), Number(bad[0]!.id)];
    const delivered = await heartbeat("dev-waiter", token);
    token = delivered.token;
    expect(JSON.stringify(delivered.command)).toContain(`"id":${okId}`);

    const pending = await cli(["commands", "wait", String(okId), "--timeout", "1s"]);
    expect(pending.code).toBe(5);
    expect(pending.stderr).toMatch(new RegExp(`still pending at the timeout: ${okId}`));

    const waiting = cli(["commands", "wait", String(okId), String(badId), "--timeout", "30s"]);
    await heartbeat("dev-waiter", token, [
      { id: okId, return: 0, reason: "ok" },
      { id: badId, return: 1, reason: "disk full" },
    ]);
    const waited = await waiting;
    expect(waited.code).toBe(5);
    expect(waited.stdout).toContain(`command ${okId} on dev-waiter: succeeded (return 0: ok)`);
    expect(waited.stdout).toContain(`command ${badId} on dev-waiter: failed (return 1: disk full)`);
    expect(waited.stderr).toContain(`did not succeed: ${badId} (failed)`);

    const alone = await cli(["commands", "wait", String(okId), "--json"]);
    expect(alone.code).toBe(0);
    expect(JSON.parse(alone.stdout.trim())).toMatchObject({ id: String(okId), state: "COMMAND_STATE_SUCCEEDED", returnCode: 0, reason: "ok" });
    expect((await cli(["commands", "wait", "999999999"])).code).toBe(4);
  });

  it("commands queue --wait reports the result the agent sends", async () => {
    let token = await register("dev-quick", "Ubuntu 22.04");
    const running = cli(["commands", "queue", "--device", "dev-quick", "--type", "1", "--wait", "--timeout", "30s"]);
    // The agent's side: heartbeat until the command arrives, then report it done.
    let commandId: number | undefined;
    for (let i = 0; i < 100 && commandId === undefined; i++) {
      const answer = await heartbeat("dev-quick", token);
      token = answer.token;
      if (Array.isArray(answer.command) && answer.command.length > 0) commandId = (answer.command[0] as { id: number }).id;
      else await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(commandId).toEqual(expect.any(Number));
    await heartbeat("dev-quick", token, [{ id: commandId, return: 0, reason: "done" }]);
    const ran = await running;
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toContain(`command ${commandId} on dev-quick: succeeded (return 0: done)`);
  });

  it("a campaign with --wait: 0 once every device succeeded; campaigns wait: 5 when one failed", async () => {
    let token = await register("dev-camp", "Ubuntu 22.04");
    expect((await cli(["devices", "label", "dev-camp", "--add", "camp-only"])).code).toBe(0);
    /** The agent's side: heartbeat until the campaign's command arrives, then report `ret`. */
    async function agentAnswers(ret: number): Promise<number> {
      let commandId: number | undefined;
      for (let i = 0; i < 300 && commandId === undefined; i++) {
        const answer = await heartbeat("dev-camp", token);
        token = answer.token;
        if (Array.isArray(answer.command) && answer.command.length > 0) commandId = (answer.command[0] as { id: number }).id;
        else await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(commandId).toBeDefined();
      await heartbeat("dev-camp", token, [{ id: commandId, return: ret, reason: ret === 0 ? "done" : "broken" }]);
      return commandId!;
    }
    const running = cli(["commands", "queue", "--label", "camp-only", "--type", "3", "--wait", "--timeout", "30s"]);
    await agentAnswers(0);
    const ran = await running;
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toMatch(/state:\s+completed/);
    expect(ran.stdout).toMatch(/succeeded:\s+1$/m);

    const started = json<{ id: string }>(await cli(["commands", "queue", "--label", "camp-only", "--type", "4", "--json"]));
    await agentAnswers(1);
    const waited = await cli(["campaigns", "wait", started.id, "--timeout", "30s"]);
    expect(waited.code).toBe(5);
    expect(waited.stdout).toMatch(/failed:\s+1$/m);
    // Leave the fleet as the tests below count it.
    expect((await cli(["devices", "delete", "dev-camp", "--yes"])).code).toBe(0);
  });

  it("devices show: detail with command history; delete; then not found", async () => {
    const shown = await cli(["devices", "show", "dev-alpha", "--commands", "2"]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/^device id:\s+dev-alpha$/m);
    expect(shown.stdout).toMatch(/^status:\s+online/m);
    expect(shown.stdout).toMatch(/^labels:\s+.*canary/m);
    expect(shown.stdout).toContain("commands (newest first):");
    const detail = json<{ device: { deviceId: string }; commands: unknown[] }>(await cli(["devices", "show", "dev-alpha", "--json"]));
    expect(detail.device.deviceId).toBe("dev-alpha");
    // Types 1, 2 and 7 (the all-devices campaign's command was cancelled and purged).
    expect(detail.commands.length).toBeGreaterThanOrEqual(3);

    const deleted = await cli(["devices", "delete", "dev-gamma", "--yes"]);
    expect(deleted.code).toBe(0);
    expect(deleted.stdout).toBe("deleted device dev-gamma\n");
    expect((await cli(["devices", "show", "dev-gamma"])).code).toBe(4);
    expect((await cli(["devices", "delete", "dev-gamma", "--yes"])).code).toBe(4);
  });
});

describe("releases, census and machines", () => {
  const hb = (machineId: string, hbId: string, versionInfo: string, osType = "Linux") =>
    post("/hb/newHb", {}, { versionInfo, machineId, hbId, osType, osVersion: "5.10.17-v7l+", country: "notSet", region: "notSet" });

  beforeAll(async () => {
    expect((await hb("machine-1", "hb-1", "2.0")).status).toBe(200);
    expect((await hb("machine-2", "hb-2", "2.1")).status).toBe(200);
    expect((await hb("machine-3", "hb-3", "2.1", "Darwin")).status).toBe(200);
    await t.server.batcher.flush();
  });

  it("releases set, list, delete", async () => {
    const set = await cli(["releases", "set", "2.10", "--product", "poolarino", "--channel", "beta", "--rollout", "25"]);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toMatch(/poolarino\s+beta\s+2\.10\s+25%/);
    const listed = json<Array<{ product: string; version: string; rolloutPercent: number }>>(await cli(["releases", "list", "--product", "poolarino", "--json"]));
    expect(listed).toEqual([expect.objectContaining({ product: "poolarino", channel: "beta", version: "2.10", rolloutPercent: 25 })]);
    expect((await cli(["releases", "set", "not a version"])).code).toBe(2);
    expect((await cli(["releases", "set", "3.0", "--rollout", "101"])).code).toBe(2);
    expect((await cli(["releases", "delete", "--product", "poolarino", "--channel", "beta", "--yes"])).stdout).toBe("deleted\n");
    expect((await cli(["releases", "delete", "--product", "poolarino", "--channel", "beta", "--yes"])).code).toBe(4);
  });

  it("releases audit: the changes newest first, filtered, as a table and JSON, paged by --limit", async () => {
    expect((await cli(["releases", "set", "1.0", "--product", "audited", "--channel", "stable"])).code).toBe(0);
    expect((await cli(["releases", "set", "1.1", "--product", "audited", "--channel", "stable", "--rollout", "20"])).code).toBe(0);
    expect((await cli(["releases", "set", "5.0", "--product", "audited", "--channel", "beta"])).code).toBe(0);
    expect((await cli(["releases", "delete", "--product", "audited", "--channel", "stable", "--yes"])).code).toBe(0);

    const shown = await cli(["releases", "audit", "--product", "audited"], { key: reader });
    expect(shown.code, shown.stderr).toBe(0);
    const lines = shown.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^TIME\s+PRODUCT\/CHANNEL\s+ACTION\s+ACTOR\s+CHANGE$/);
    expect(lines.slice(1).map((line) => line.replace(/^\S+\s+/, "").replace(/\s+/g, " "))).toEqual([
      "audited/stable delete test admin 1.1 20% → -",
      "audited/beta set test admin - → 5.0 100%",
      "audited/stable set test admin 1.0 100% → 1.1 20%",
      "audited/stable set test admin - → 1.0 100%",
    ]);
    expect(shown.stderr).toBe("4 entries\n");

    const beta = json<Array<{ action: string; channel: string; actor: { kind: string; name: string; keyId: string }; before?: unknown; after: { version: string } }>>(
      await cli(["releases", "audit", "--product", "audited", "--channel", "beta", "--since", "-1h", "--json"]),
    );
    expect(beta).toEqual([expect.objectContaining({ action: "set", channel: "beta", actor: expect.objectContaining({ kind: "RELEASE_AUDIT_ACTOR_KIND_OPERATOR", name: "test admin" }), after: expect.objectContaining({ version: "5.0" }) })]);
    expect(json<unknown[]>(await cli(["releases", "audit", "--product", "audited", "--since", "2999-01-01T00:00:00Z", "--json"]))).toEqual([]);

    const first = await cli(["releases", "audit", "--product", "audited", "--limit", "1", "--json"]);
    expect(json<Array<{ action: string }>>(first).map((e) => e.action)).toEqual(["delete"]);
    const token = /--page-token (\S+)/.exec(first.stderr)?.[1];
    expect(token).toBeDefined();
    const rest = json<Array<{ after?: { version: string } }>>(await cli(["releases", "audit", "--product", "audited", "--limit", "0", "--page-token", token!, "--json"]));
    expect(rest.map((e) => e.after?.version)).toEqual(["5.0", "1.1", "1.0"]);

    expect((await cli(["releases", "audit", "--since", "yesterday"])).code).toBe(2);
  });

  it("releases yank and rollback print the installations affected; controls lists them; the audit shows them", async () => {
    // Two installations on 4.2, seen ten days ago (outside the census window the next test counts).
    const long = Date.now() - 10 * 86_400_000;
    const row = (hbId: string) => ({ machineId: "cli-controls", hbId, product: "controlled", channel: "stable", version: "4.2", osType: "Linux", osVersion: "6.1", country: "notSet", region: "notSet", receivedAt: long });
    const [stored] = await t.server.store.apply([{ kind: "recordHeartbeats", heartbeats: [row("a"), row("b")], keepRaw: false }]);
    expect(stored?.ok).toBe(true);

    const yanked = await cli(["releases", "yank", "controlled", "4.2"]);
    expect(yanked.code, yanked.stderr).toBe(0);
    expect(yanked.stdout).toBe("yanked controlled 4.2: 2 installations on it (0 active in the last 24 h)\n");
    expect((await cli(["releases", "yank", "controlled", "4.2"])).stdout).toMatch(/^already yanked controlled 4\.2: /);
    expect(json<{ alreadyYanked: boolean; affected: { installations: string } }>(await cli(["releases", "yank", "controlled", "4.2", "--json"]))).toMatchObject({
      alreadyYanked: true,
      affected: { installations: "2" },
    });
    expect((await cli(["releases", "yank", "controlled", "4.2"], { key: reader })).code).toBe(3);
    expect((await cli(["releases", "yank", "controlled", "4.2", "--undo"])).stdout).toBe("unyanked controlled 4.2: offered again; 2 installations on it (0 active in the last 24 h)\n");
    expect((await cli(["releases", "yank", "controlled", "4.2", "--undo"])).code).toBe(4);

    const rolled = await cli(["releases", "rollback", "controlled", "--from", "4.2", "--to", "4.0"]);
    expect(rolled.code, rolled.stderr).toBe(0);
    expect(rolled.stdout).toBe("rollback controlled 4.2 → 4.0: 2 installations told to downgrade (0 active in the last 24 h)\n");
    const beta = json<{ rollback: { channel: string; toVersion: string }; affected: { installations?: string } }>(
      await cli(["releases", "rollback", "controlled", "--from", "4.2", "--to", "4.1", "--channel", "beta", "--json"]),
    );
    expect(beta.rollback).toMatchObject({ channel: "beta", toVersion: "4.1" });
    expect(beta.affected.installations ?? "0").toBe("0");
    expect((await cli(["releases", "rollback", "controlled", "--from", "4.2", "--to", "4.3"])).code).toBe(2);
    expect((await cli(["releases", "rollback", "controlled", "--from", "4.2"])).code).toBe(2);

    const controls = await cli(["releases", "controls", "--product", "controlled"], { key: reader });
    expect(controls.code, controls.stderr).toBe(0);
    expect(controls.stdout).toMatch(/^controlled\s+\*\s+4\.2\s+4\.0\s/m);
    expect(controls.stdout).toMatch(/^controlled\s+beta\s+4\.2\s+4\.1\s/m);

    expect((await cli(["releases", "rollback", "controlled", "--from", "4.2", "--channel", "beta", "--cancel"])).stdout).toBe(
      "cancelled the rollback of controlled/beta 4.2: 0 installations on it (0 active in the last 24 h)\n",
    );
    expect((await cli(["releases", "rollback", "controlled", "--from", "4.2", "--channel", "beta", "--cancel"])).code).toBe(4);

    const audit = await cli(["releases", "audit", "--product", "controlled"], { key: reader });
    expect(audit.stdout.trimEnd().split("\n").slice(1).map((line) => line.replace(/^\S+\s+/, "").replace(/\s+/g, " "))).toEqual([
      "controlled/beta cancel-rollback test admin 4.2 → 4.1",
      "controlled/beta rollback test admin 4.2 → 4.1",
      "controlled/* rollback test admin 4.2 → 4.0",
      "controlled/* unyank test admin 4.2",
      "controlled/* yank test admin 4.2",
    ]);
    // The installations go again: later tests count the fleet.
    const [erased] = await t.server.store.apply([{ kind: "eraseMachine", machineId: "cli-controls" }]);
    expect(erased?.ok).toBe(true);
  });

  it("census shows installations by version and OS; series by day", async () => {
    const shown = await cli(["census"]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/^3 installation\(s\) on 3 machine\(s\)$/m);
    expect(shown.stdout).toMatch(/^2\.1\s+2$/m);
    expect(shown.stdout).toMatch(/^2\.0\s+1$/m);
    const census = json<{ installations: string; byOsType: Array<{ key: string; installations: string }> }>(await cli(["census", "show", "--window", "1h", "--json"]));
    expect(census.installations).toBe("3");
    expect(census.byOsType).toEqual(expect.arrayContaining([{ key: "Darwin", installations: "1" }]));
    const series = await cli(["census", "series", "--days", "7"]);
    expect(series.code, series.stderr).toBe(0);
    expect(series.stdout.split("\n")[0]).toMatch(/^DATE\s+INSTALLATIONS\s+BY VERSION$/);
    const days = json<{ days: Array<{ date: string; installations: string }> }>(await cli(["census", "series", "--json"]));
    expect(days.days.some((day) => day.installations === "3")).toBe(true);
    expect((await cli(["census", "show", "--window", "forever"])).code).toBe(2);
  });

  it("machines export to stdout and to a file; erase needs --yes", async () => {
    const exported = json<{ machineId: string; installations: Array<{ hbId: string; version: string }> }>(await cli(["machines", "export", "machine-2"]));
    expect(exported.machineId).toBe("machine-2");
    expect(exported.installations).toEqual([expect.objectContaining({ hbId: "hb-2", version: "2.1" })]);
    const file = join(scratch, "machine-2.json");
    const toFile = await cli(["machines", "export", "machine-2", "--out", file]);
    expect(toFile.code).toBe(0);
    expect(toFile.stderr).toMatch(/1 installation\(s\), 1 heartbeat\(s\)/);
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual(expect.objectContaining({ machineId: "machine-2", installations: exported.installations }));
    expect(existsSync(`${file}.partial`)).toBe(false);

    expect((await cli(["machines", "erase", "machine-2"])).code).toBe(2);
    const erased = await cli(["machines", "erase", "machine-2", "--yes"]);
    expect(erased.code).toBe(0);
    expect(erased.stdout).toMatch(/^erased machine machine-2: 1 installation\(s\), 1 heartbeat\(s\), 1 daily record\(s\)$/m);
    const after = json<{ installations: unknown[] }>(await cli(["machines", "export", "machine-2"]));
    expect(after.installations).toEqual([]);
  });
});

describe("events", () => {
  // 2,500 events: more than two export chunks (1,000 per page) and 25 ListEvents pages of 100.
  const bulk = 2_500;
  beforeAll(async () => {
    await storeEvents("a".repeat(32), bulk, { event: (i) => (i % 10 === 0 ? "purchase" : "open") });
    await storeEvents("b".repeat(32), 5, { event: () => "login", deviceId: "device-b" });
  });

  it("events list: table, filters, paging through every page with --limit 0", async () => {
    const table = await cli(["events", "list", "--limit", "5"]);
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^AT\s+EVENT\s+DEVICE\s+CLIENT\s+SESSION\s+NR\s+USER\s+IP\s+PARAMETERS$/);
    expect(lines).toHaveLength(6);
    expect(lines[1]).toMatch(/^2023-11-14T22:13:20Z\s+purchase\s+device-of-a…\s+client-1\s+aaaaaaaaaaa…\s+1\s+192\.0\.2\.1$/);

    const all = json<Array<{ nr: number; session: string }>>(await cli(["events", "list", "--limit", "0", "--json"]));
    expect(all).toHaveLength(bulk + 5);
    expect(all.slice(0, bulk).map((e) => e.nr)).toEqual(Array.from({ length: bulk }, (_, i) => i + 1));

    const logins = json<Array<{ event: string; deviceId: string }>>(await cli(["events", "list", "--device", "device-b", "--json"]));
    expect(logins).toHaveLength(5);
    const purchases = json<unknown[]>(await cli(["events", "list", "--event", "purchase", "--limit", "0", "--json"]));
    expect(purchases).toHaveLength(bulk / 10);
    const window = json<unknown[]>(await cli(["events", "list", "--session", "a".repeat(32), "--from", "1700000010", "--to", "2023-11-14T22:13:40Z", "--json"]));
    expect(window).toHaveLength(10);
    expect((await cli(["events", "list", "--from", "yesterday"])).code).toBe(2);
    expect((await cli(["events", "list", "--from", "1700000020", "--to", "1700000010"])).code).toBe(2);
  });

  it("events export --format ndjson streams every page to the file", async () => {
    const file = join(scratch, "events.ndjson");
    const ran = await cli(["events", "export", "--format", "ndjson", "--out", file]);
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stderr).toMatch(new RegExp(`^exported 2,505 event\\(s\\), .* to ${file} in `));
    expect(existsSync(`${file}.partial`)).toBe(false);
    const lines = readFileSync(file, "utf8").split("\n");
    expect(lines.pop()).toBe("");
    expect(lines).toHaveLength(bulk + 5);
    const first = JSON.parse(lines[0]!);
    expect(first).toMatchObject({ deviceId: "device-of-" + "a".repeat(32), clientId: "client-1", event: "purchase", nr: 1, at: "1700000000" });
    expect(lines.map((line) => JSON.parse(line).nr as number).slice(0, bulk)).toEqual(Array.from({ length: bulk }, (_, i) => i + 1));
  });

  it("events export --format hamustro writes the collector's layout; filters apply; --json prints a summary", async () => {
    const file = join(scratch, "purchases.hamustro");
    const ran = await cli(["events", "export", "--format", "hamustro", "--event", "purchase", "--out", file, "--json"]);
    const summary = json<{ events: number; bytes: number; file: string; format: string }>(ran);
    expect(summary).toMatchObject({ events: bulk / 10, file, format: "hamustro" });
    const text = readFileSync(file, "utf8");
    expect(Buffer.byteLength(text)).toBe(summary.bytes);
    const rows = text.trimEnd().split("\n");
    expect(rows).toHaveLength(bulk / 10);
    expect(rows[0]!.split("\u0001")).toEqual([
      "device-of-" + "a".repeat(32),
      "client-1",
      "a".repeat(32),
      "10.10",
      "1.1.2",
      "OSX",
      "",
      "2023-11-14 22:13:20",
      "purchase",
      "1",
      "",
      "192.0.2.1",
      "",
      "false",
    ]);
  });

  it("events export --format csv writes RFC 4180 with a header row (CRLF, quoting where needed)", async () => {
    const file = join(scratch, "purchases.csv");
    const ran = await cli(["events", "export", "--format", "csv", "--event", "purchase", "--out", file, "--json"]);
    const summary = json<{ events: number; bytes: number; format: string }>(ran);
    expect(summary).toMatchObject({ events: bulk / 10, format: "csv" });
    const text = readFileSync(file, "utf8");
    expect(Buffer.byteLength(text)).toBe(summary.bytes);
    const rows = text.split("\r\n");
    expect(rows.pop()).toBe("");
    expect(rows).toHaveLength(bulk / 10 + 1);
    expect(rows[0]).toBe("device_id,client_id,session,system_version,product_version,system,product_git_hash,at,event,nr,user_id,ip,parameters,is_testing,received_at");
    const first = rows[1]!.split(",");
    expect(first.slice(0, 14)).toEqual([
      "device-of-" + "a".repeat(32),
      "client-1",
      "a".repeat(32),
      "10.10",
      "1.1.2",
      "OSX",
      "",
      "2023-11-14T22:13:20Z",
      "purchase",
      "1",
      "",
      "192.0.2.1",
      "",
      "false",
    ]);
    expect(first[14]).toMatch(/^\d{4}-\d{2}-\d{2}T/);
  });

  it("events export to stdout; the progress bar is drawn on a terminal only", async () => {
    const plain = await cli(["events", "export", "--device", "device-b"]);
    expect(plain.code).toBe(0);
    expect(plain.stdout.trimEnd().split("\n")).toHaveLength(5);
    expect(plain.stderr).not.toContain("\r");

    const file = join(scratch, "tty.ndjson");
    const tty = await cli(["events", "export", "--out", file], { tty: true });
    expect(tty.code).toBe(0);
    expect(tty.stderr).toMatch(/\rexporting \[#+\] 100% 2,505\/2,505 events/);
    expect(tty.stderr).toContain("\r\u001b[K");
    const quiet = await cli(["events", "export", "--out", file, "--no-progress"], { tty: true });
    expect(quiet.stderr).not.toContain("exporting [");
  });

  it("a failed export leaves no file behind", async () => {
    const file = join(scratch, "denied.ndjson");
    const ran = await cli(["events", "export", "--out", file], { key: "fbk_wrong" });
    expect(ran.code).toBe(3);
    expect(existsSync(file)).toBe(false);
    expect(existsSync(`${file}.partial`)).toBe(false);
  });

  it("events follow prints events committed after it started, filtered, and stops after --count", async () => {
    const following = cli(["events", "follow", "--event", "live", "--count", "3", "--json"]);
    let done = false;
    void following.then(() => (done = true));
    // Keep committing until the follower has seen three: it starts at the newest
    // event stored when it subscribed, so what it prints must be from this loop.
    let nr = 1;
    for (let round = 0; round < 200 && !done; round++) {
      await storeEvents("c".repeat(32), 2, { firstNr: nr, event: (i) => (i === 0 ? "live" : "other") });
      nr += 2;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const ran = await following;
    expect(ran.code, ran.stderr).toBe(0);
    const events = ran.stdout.trimEnd().split("\n").map((line) => JSON.parse(line) as { event: string; session: string; nr: number });
    expect(events).toHaveLength(3);
    expect(new Set(events.map((e) => e.event))).toEqual(new Set(["live"]));
    expect(new Set(events.map((e) => e.session))).toEqual(new Set(["c".repeat(32)]));
    expect(events.map((e) => e.nr)).toEqual([...events.map((e) => e.nr)].sort((a, b) => a - b));
  });
});

describe("connection settings", () => {
  it("reads server and key from the config file; flags and environment win over it", async () => {
    const config = join(scratch, "cli.json");
    writeFileSync(config, JSON.stringify({ server: t.server.url, key: admin }));
    const fromFile = await cli(["stats", "--json", "--config", config], { key: null, env: { FLEETBEAT_SERVER: "" } });
    expect(fromFile.code, fromFile.stderr).toBe(0);
    const viaEnv = await cli(["stats"], { key: null, env: { FLEETBEAT_SERVER: "", FLEETBEAT_CONFIG: config } });
    expect(viaEnv.code).toBe(0);
    expect((await cli(["stats", "--config", config], { key: "fbk_wrong" })).code).toBe(3);
    expect((await cli(["stats", "--config", config, "--key", reader], { key: null })).code).toBe(0);

    const xdg = join(home, "xdg");
    mkdirSync(join(xdg, "fleetbeat"), { recursive: true });
    writeFileSync(join(xdg, "fleetbeat", "cli.json"), JSON.stringify({ server: t.server.url, key: reader }));
    expect((await cli(["stats"], { key: null, env: { FLEETBEAT_SERVER: "", XDG_CONFIG_HOME: xdg } })).code).toBe(0);
  });

  it("a missing or broken config file, or a bad URL, is exit 2", async () => {
    expect((await cli(["stats", "--config", join(scratch, "absent.json")])).code).toBe(2);
    const broken = join(scratch, "broken.json");
    writeFileSync(broken, "{server:");
    const ran = await cli(["stats", "--config", broken]);
    expect(ran.code).toBe(2);
    expect(ran.stderr).toMatch(/not valid JSON/);
    expect((await cli(["stats", "--server", "ftp://example.com"])).code).toBe(2);
  });

  it("an unreachable server is exit 1", async () => {
    const ran = await cli(["stats", "--server", "http://127.0.0.1:1"]);
    expect(ran.code).toBe(1);
    expect(ran.stderr).toMatch(/http:\/\/127\.0\.0\.1:1/);
  });
});

describe("stats once the fleet has data", () => {
  it("counts devices, online and never seen devices, pending commands, installations, events and the ingest rate", async () => {
    const figures = json<Record<string, string | number>>(await cli(["stats", "--json"]));
    // dev-alpha, dev-beta, dev-waiter, dev-quick (dev-gamma was deleted), all seen just now.
    expect(figures.devices).toBe("4");
    expect(figures.devicesOnline).toBe("4");
    // dev-alpha and dev-beta registered and never checked in; dev-waiter and dev-quick did.
    expect(figures.devicesNeverSeen).toBe("2");
    // dev-alpha's types 1, 2 and 7 and dev-beta's 7; the rest were cancelled, finished or deleted with dev-gamma.
    expect(figures.commandsPending).toBe("4");
    // machine-1 and machine-3 (machine-2 was erased).
    expect(figures.installations).toBe("2");
    expect(Number(figures.events)).toBeGreaterThanOrEqual(2_505);
    // Everything was stored within the last minute: at least 2,505 / 60 per second.
    expect(Number(figures.eventsPerSecond)).toBeGreaterThanOrEqual(2_505 / 60);
    expect(Number(figures.heartbeatsPerSecond)).toBeCloseTo(3 / 60 - 1 / 60, 5);
    const table = await cli(["stats"]);
    expect(table.stdout).toMatch(/^devices:\s+4 \(4 online\)$/m);
    expect(table.stdout).toMatch(/^devices never seen:\s+2$/m);
    expect(table.stdout).toMatch(/^installations:\s+2$/m);
  });
});

describe("destructive commands need --yes", () => {
  const destructiveCommands = [
    ["devices", "delete", "dev-kept"],
    ["machines", "erase", "machine-kept"],
    ["releases", "delete", "--product", "p", "--channel", "c"],
    ["keys", "revoke", "some-key-id"],
    ["commands", "cancel", "1"],
    ["commands", "purge", "--state", "cancelled"],
    ["campaigns", "cancel", "1"],
  ];

  it.each(destructiveCommands)("%s %s without --yes: usage error (2) that says to pass --yes, nothing sent", async (...args) => {
    const before = await cli(["stats", "--json"]);
    const ran = await cli(args);
    expect(ran.code).toBe(2);
    expect(ran.stderr).toContain("pass --yes");
    expect(ran.stdout).toBe("");
    // Nothing reached the server's write path: the counts are what they were.
    const after = await cli(["stats", "--json"]);
    const counts = (text: string) => {
      const s = JSON.parse(text) as Record<string, unknown>;
      return [s.devices, s.commandsPending, s.installations];
    };
    expect(counts(after.stdout)).toEqual(counts(before.stdout));
  });

  it("every command that deletes, erases, revokes, cancels or purges has --yes", () => {
    const program = buildProgram("0.0.0-test", commandGroups);
    const missing: string[] = [];
    let checked = 0;
    for (const group of program.commands) {
      for (const command of group.commands) {
        if (!/^(delete|erase|revoke|cancel|purge)$/.test(command.name())) continue;
        checked++;
        if (!command.options.some((option) => option.long === "--yes")) missing.push(`${group.name()} ${command.name()}`);
      }
    }
    expect(checked).toBe(destructiveCommands.length);
    expect(missing).toEqual([]);
  });
});

describe("a listing that stops at --limit", () => {
  it("says there is more on stderr with the next page token; --page-token continues; --json stays parseable", async () => {
    const all = json<Array<{ deviceId: string }>>(await cli(["devices", "list", "--json"]));
    expect(all.length).toBeGreaterThanOrEqual(3);
    const first = await cli(["devices", "list", "--limit", "2", "--json"]);
    const firstPage = json<Array<{ deviceId: string }>>(first);
    expect(firstPage.map((d) => d.deviceId)).toEqual(all.slice(0, 2).map((d) => d.deviceId));
    const token = /more results: continue with --page-token (\S+)\n/.exec(first.stderr)?.[1];
    expect(token, first.stderr).toBeDefined();
    const rest = json<Array<{ deviceId: string }>>(await cli(["devices", "list", "--page-token", token!, "--json"]));
    expect(rest.map((d) => d.deviceId)).toEqual(all.slice(2).map((d) => d.deviceId));
    // The whole list, or a limit at or past the end: no hint.
    expect((await cli(["devices", "list"])).stderr).not.toContain("more results");
    expect((await cli(["devices", "list", "--limit", String(all.length)])).stderr).not.toContain("more results");
    // The table says it too.
    expect((await cli(["devices", "list", "--limit", "1"])).stderr).toContain("more results: continue with --page-token ");
  });
});
