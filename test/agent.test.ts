// The DI protocol end to end over real sockets: the legacy paths with the seed's
// exact bodies, the same methods over Connect, tokens with an injectable clock,
// enrolment, and the command lifecycle through the operator API.
import { readFileSync } from "node:fs";
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentService } from "../gen/fleetbeat/agent/v1/agent_pb.js";
import { CampaignState, CommandService, CommandState } from "../gen/fleetbeat/operator/v1/commands_pb.js";
import { DeviceService, OnlineFilter } from "../gen/fleetbeat/operator/v1/devices_pb.js";
import { defaultConfig, type AgentConfig } from "../server/core/config.js";
import { clientFor } from "./support/clients.js";
import { bearer, operatorSecret, startTestServer, type TestServer } from "./support/server.js";
import { expectNoTakeOverByReplay } from "./support/token-replay.js";

const fixture = (name: string) => readFileSync(new URL(`../server/agent/fixtures/${name}`, import.meta.url));
const T0 = Date.UTC(2026, 0, 1);

interface Answer {
  status: number;
  text: string;
  json?: { token: string; command: unknown; interval: number; jitter: number };
}

async function post(base: string, path: string, headers: Record<string, string>, body: string | Uint8Array): Promise<Answer> {
  const response = await fetch(new URL(path, base), { method: "POST", headers: { "content-type": "application/json", ...headers }, body: typeof body === "string" ? body : new Uint8Array(body) });
  const text = await response.text();
  return { status: response.status, text, ...(response.status === 200 ? { json: JSON.parse(text) } : {}) };
}

describe("DI agent protocol end to end", () => {
  let t: TestServer;
  let clock = T0;
  let base: string;
  let admin: Record<string, string>;
  const agentConfig: AgentConfig = { ...defaultConfig.agent, tokenLifetimeMs: 3_600_000, intervalSeconds: 60, jitterSeconds: 10, expireEveryMs: 100, campaignEveryMs: 50 };

  beforeAll(async () => {
    t = await startTestServer({ agent: agentConfig }, { now: () => clock });
    base = t.server.url;
    admin = bearer(await operatorSecret(t.server.store, "admin"));
  });
  afterAll(async () => {
    await t?.dispose();
  });

  let counter = 0;
  const newDevice = () => `dev${++counter}-${Math.random().toString(16).slice(2, 10)}`;
  async function register(deviceId: string, extra: Record<string, string> = {}): Promise<string> {
    const answer = await post(base, "/online", { "X-DI-DEVICEID": deviceId, ...extra }, fixture("online.seed.request.json"));
    expect(answer.status).toBe(200);
    return answer.json!.token;
  }
  const heartbeat = (deviceId: string, token: string, body: string | Uint8Array = '{"result":{}}') =>
    post(base, "/heartbeat", { "X-DI-DEVICEID": deviceId, "X-DI-TOKEN": token }, body);
  /** Polls `probe` until it answers something other than undefined, for at most 10 s. */
  async function eventually<T>(probe: () => Promise<T | undefined>): Promise<T> {
    const until = Date.now() + 10_000;
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (Date.now() > until) throw new Error("condition not met within 10 s");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  describe("golden bodies (the seed's examples, byte for byte)", () => {
    it("register, update and every heartbeat form answer the seed's shape", async () => {
      const id = "095e39b5839a428f8809b82ebe5e289d";
      const online = await post(base, "/online", { "X-DI-DEVICEID": id }, fixture("online.seed.request.json"));
      expect(online.status).toBe(200);
      const token = online.json!.token;
      expect(token).toMatch(/^[A-Za-z0-9_-]{64}$/);
      const golden = Buffer.from(fixture("response.no-command.json")).toString("utf8").replace("xxxxxx", token);
      expect(online.text).toBe(golden);
      const update = await post(base, "/update", { "X-DI-DEVICEID": id, "X-DI-TOKEN": token }, fixture("update.seed.request.json"));
      expect(update.text).toBe(golden);
      for (const name of [
        "heartbeat.seed-empty.request.json",
        "heartbeat.empty-array.request.json",
        "heartbeat.seed-one-result.request.json",
        "heartbeat.seed-brace-list.request.json",
        "heartbeat.array.request.json",
        "heartbeat.single-object.request.json",
        "heartbeat.object-of-results.request.json",
      ]) {
        const answer = await heartbeat(id, token, fixture(name));
        expect([name, answer.text]).toEqual([name, golden]);
      }
      // A queued command rides the next answer exactly as the seed writes it.
      const commands = clientFor(CommandService, "connect-json", base);
      const queued = await commands.queueCommand({ target: { target: { case: "deviceId", value: id } }, type: 1, content: "xxx" }, { headers: admin });
      const commandId = queued.commands[0]!.id;
      const withCommand = await heartbeat(id, token);
      expect(withCommand.text).toBe(Buffer.from(fixture("response.seed-command.json")).toString("utf8").replace("xxxxxx", token).replace('"id":111', `"id":${commandId}`));
    });

    it("bad input is a 400 with the seed's limits counted in characters", async () => {
      const id = newDevice();
      const token = await register(id);
      const info = (over: Record<string, string>) => JSON.stringify({ devicename: "n", ip: "1.2.3.4", macaddress: "m", os: "o", ...over });
      expect((await post(base, "/online", { "X-DI-DEVICEID": newDevice() }, info({ devicename: "设".repeat(64) }))).status).toBe(200);
      expect((await post(base, "/online", { "X-DI-DEVICEID": newDevice() }, info({ devicename: "设".repeat(65) }))).status).toBe(400);
      expect((await post(base, "/online", { "X-DI-DEVICEID": newDevice() }, info({ ip: "1".repeat(33) }))).status).toBe(400);
      expect((await post(base, "/online", { "X-DI-DEVICEID": newDevice() }, info({ macaddress: "m".repeat(33) }))).status).toBe(400);
      expect((await post(base, "/online", { "X-DI-DEVICEID": newDevice() }, info({ os: "o".repeat(65) }))).status).toBe(400);
      expect((await post(base, "/online", { "X-DI-DEVICEID": "d".repeat(65) }, info({}))).status).toBe(400);
      expect((await post(base, "/online", {}, info({}))).status).toBe(400);
      expect((await post(base, "/online", { "X-DI-DEVICEID": newDevice() }, "{not json")).status).toBe(400);
      expect((await post(base, "/update", { "X-DI-DEVICEID": id, "X-DI-TOKEN": token }, info({ os: "o".repeat(65) }))).status).toBe(400);
      expect((await heartbeat(id, "t".repeat(65))).status).toBe(400);
      expect((await heartbeat(id, token, JSON.stringify({ result: [{ id: 1, return: 0, reason: "r".repeat(257) }] }))).status).toBe(400);
      expect((await heartbeat(id, token, JSON.stringify({ result: [{ id: 1, return: 0, reason: "😀".repeat(256) }] }))).status).toBe(200);
      expect((await heartbeat(id, token, '{"result": 7}')).status).toBe(400);
      // GET is not a DI method.
      expect((await fetch(new URL("/heartbeat", base))).status).toBe(405);
    });
  });

  describe("tokens", () => {
    it("current & unexpired → same; expired → new; previous (lost answer) → a valid new one; neither → 401", async () => {
      clock = T0;
      const id = newDevice();
      const t1 = await register(id);
      expect((await heartbeat(id, t1)).json!.token).toBe(t1);
      clock = T0 + 3_600_000; // expired
      const rotated = await heartbeat(id, t1);
      const t2 = rotated.json!.token;
      expect(t2).not.toBe(t1);
      // That answer was lost: the device still holds t1.
      const recovered = await heartbeat(id, t1);
      const t3 = recovered.json!.token;
      expect(recovered.status).toBe(200);
      expect(t3).not.toBe(t1);
      expect((await heartbeat(id, t3)).json!.token).toBe(t3);
      // t2 was never received by the device: neither current nor previous now.
      const refused = await heartbeat(id, t2);
      expect(refused.status).toBe(401);
      expect(refused.json).toBeUndefined();
      expect((await heartbeat(id, "x".repeat(64))).status).toBe(401);
      expect((await post(base, "/heartbeat", { "X-DI-DEVICEID": id }, "{}")).status).toBe(401);
      // Only hashes at rest.
      const row = await t.server.store.agent.getDevice(id);
      expect(JSON.stringify(row)).not.toContain(t3);
      clock = T0;
    });

    it("a superseded token replayed after the device moved on gets 401 everywhere and changes nothing (issue 9)", async () => {
      await expectNoTakeOverByReplay(
        {
          post: (path, headers, body) => post(base, path, headers, body),
          registerBody: fixture("online.seed.request.json"),
          setClock: (now) => (clock = now),
          tokenLifetimeMs: agentConfig.tokenLifetimeMs,
          previousGraceMs: agentConfig.previousTokenGraceMs,
        },
        newDevice(),
        T0,
      );
    });

    it("one device presenting another device's token gets 401", async () => {
      const a = newDevice();
      const b = newDevice();
      const ta = await register(a);
      await register(b);
      expect((await heartbeat(b, ta)).status).toBe(401);
      expect((await post(base, "/update", { "X-DI-DEVICEID": b, "X-DI-TOKEN": ta }, fixture("update.seed.request.json"))).status).toBe(401);
      // Nor can it take b over by registering with a's token.
      expect((await post(base, "/online", { "X-DI-DEVICEID": b, "X-DI-TOKEN": ta }, fixture("online.seed.request.json"))).status).toBe(401);
    });

    it("concurrent heartbeats of one device all succeed with the same token, in few transactions", async () => {
      const id = newDevice();
      const token = await register(id);
      clock = T0 + 5000;
      const before = t.server.batcher.stats.batches;
      const answers = await Promise.all(Array.from({ length: 40 }, () => heartbeat(id, token)));
      expect(answers.map((a) => a.status)).toEqual(new Array(40).fill(200));
      expect(new Set(answers.map((a) => a.json!.token))).toEqual(new Set([token]));
      expect(t.server.batcher.stats.batches - before).toBeLessThan(40);
      expect((await t.server.store.agent.getDevice(id))?.lastSeen).toBe(T0 + 5000);
      clock = T0;
    });

    it("a known id cannot be re-registered by a stranger under open enrolment", async () => {
      const id = newDevice();
      const token = await register(id);
      expect((await post(base, "/online", { "X-DI-DEVICEID": id }, fixture("online.seed.request.json"))).status).toBe(401);
      expect((await heartbeat(id, token)).status).toBe(200);
      // With its own token it re-registers (and gets a new one).
      const again = await register(id, { "X-DI-TOKEN": token });
      expect(again).not.toBe(token);
      expect((await heartbeat(id, again)).status).toBe(200);
    });
  });

  describe("Connect surface", () => {
    it("the same methods, identity in metadata, the same checks", async () => {
      const agent = clientFor(AgentService, "connect-json", base);
      const id = newDevice();
      const online = await agent.online({ devicename: "EndPoint1", ip: "127.0.0.1", macaddress: "00:0c:29:59:ab:c6", os: "Linux" }, { headers: { "x-di-deviceid": id } });
      expect(online.token).toHaveLength(64);
      expect(online.intervalSeconds).toBe(60);
      expect(online.jitterSeconds).toBe(10);
      const beat = await agent.heartbeat({ result: [] }, { headers: { "x-di-deviceid": id, "x-di-token": online.token } });
      expect(beat.token).toBe(online.token);
      const legacy = await heartbeat(id, online.token);
      expect(legacy.json!.token).toBe(online.token);
      await expect(agent.heartbeat({}, { headers: { "x-di-deviceid": id, "x-di-token": "nope" } })).rejects.toMatchObject({ code: Code.Unauthenticated });
      await expect(agent.online({ devicename: "x".repeat(65) }, { headers: { "x-di-deviceid": newDevice() } })).rejects.toMatchObject({ code: Code.InvalidArgument });
      const grpc = clientFor(AgentService, "grpc", base);
      const viaGrpc = await grpc.heartbeat({}, { headers: { "x-di-deviceid": id, "x-di-token": online.token } });
      expect(viaGrpc.token).toBe(online.token);
    });
  });

  describe("commands", () => {
    it("lifecycle: queued → delivered → succeeded/failed, redelivery, expiry, cancel; results matched by device", async () => {
      clock = T0;
      const commands = clientFor(CommandService, "connect-json", base);
      const devices = clientFor(DeviceService, "connect-json", base);
      const a = newDevice();
      const b = newDevice();
      const ta = await register(a);
      const tb = await register(b);
      const label = `lab-${a}`;
      await devices.setDeviceLabels({ deviceId: b, add: [label] }, { headers: admin });

      const q1 = await commands.queueCommand({ target: { target: { case: "devices", value: { deviceIds: [a, b] } } }, type: 1, content: '{"white":["/bin"]}' }, { headers: admin });
      expect(q1.commands.map((c) => c.state)).toEqual([CommandState.QUEUED, CommandState.QUEUED]);
      const [ca, cb] = [q1.commands.find((c) => c.deviceId === a)!, q1.commands.find((c) => c.deviceId === b)!];
      const q2campaign = (await commands.queueCommand({ target: { target: { case: "label", value: label } }, type: 2, content: "" }, { headers: admin })).campaign!;
      // A label is a campaign: the job gives b its command shortly after.
      const q2 = await eventually(async () => {
        const listed = await commands.listCommands({ campaignId: q2campaign.id }, { headers: admin });
        return listed.commands.length > 0 ? listed : undefined;
      });
      expect(q2.commands.map((c) => [c.deviceId, c.campaignId])).toEqual([[b, q2campaign.id]]);
      await expect(commands.queueCommand({ target: { target: { case: "deviceId", value: "nobody" } }, type: 1 }, { headers: admin })).rejects.toMatchObject({ code: Code.NotFound });

      const ha = await heartbeat(a, ta);
      expect(ha.json!.command).toEqual([{ id: Number(ca.id), type: 1, content: '{"white":["/bin"]}' }]);
      const hb = await heartbeat(b, tb);
      expect((hb.json!.command as Array<{ id: number }>).map((c) => c.id)).toEqual([Number(cb.id), Number(q2.commands[0]!.id)]);
      // a reports on b's command: ignored; b's stays delivered.
      await heartbeat(a, ta, JSON.stringify({ result: [{ id: Number(cb.id), return: 0, reason: "forged" }] }));
      // Not redelivered before 3 intervals; redelivered after.
      clock = T0 + 60_000;
      expect((await heartbeat(a, ta)).json!.command).toEqual({});
      clock = T0 + 181_000;
      expect((await heartbeat(a, ta)).json!.command).toEqual([{ id: Number(ca.id), type: 1, content: '{"white":["/bin"]}' }]);
      // Results.
      await heartbeat(a, ta, JSON.stringify({ result: [{ id: Number(ca.id), return: 0, reason: "ok" }] }));
      await heartbeat(b, tb, `{"result":{{"id":${cb.id},"return":1,"reason":"权限不足"}}}`);
      const detail = await devices.getDevice({ deviceId: b }, { headers: admin });
      expect(detail.device?.labels).toEqual([label]);
      const byId = new Map(detail.commands.map((c) => [c.id, c]));
      expect(byId.get(cb.id)).toMatchObject({ state: CommandState.FAILED, returnCode: 1, reason: "权限不足", deliveryCount: 1 });
      const doneA = await devices.getDevice({ deviceId: a }, { headers: admin });
      expect(doneA.commands[0]).toMatchObject({ id: ca.id, state: CommandState.SUCCEEDED, reason: "ok", deliveryCount: 2 });

      // Cancel the other one of b (delivered), and a queued one of a.
      const q3 = await commands.queueCommand({ target: { target: { case: "deviceId", value: a } }, type: 7, content: "custom", ttl: durationFromMs(60_000) }, { headers: admin });
      const cancelled = await commands.cancelCommand({ ids: [q2.commands[0]!.id, q3.commands[0]!.id, ca.id] }, { headers: admin });
      expect(cancelled.commands.map((c) => c.state)).toEqual([CommandState.CANCELLED, CommandState.CANCELLED, CommandState.SUCCEEDED]);
      expect((await heartbeat(a, ta)).json!.command).toEqual({});

      // Expiry: the deadline passes, the job marks it, WaitCommands sees it.
      const q4 = await commands.queueCommand({ target: { target: { case: "deviceId", value: a } }, type: 1, content: "", ttl: durationFromMs(10_000) }, { headers: admin });
      clock += 10_000;
      const seen = [];
      for await (const message of commands.waitCommands({ ids: [q4.commands[0]!.id], timeout: durationFromMs(5_000) }, { headers: admin })) seen.push(message.command);
      expect(seen.map((c) => c?.state)).toEqual([CommandState.EXPIRED]);
      const expiredList = await commands.listCommands({ state: CommandState.EXPIRED, deviceId: a }, { headers: admin });
      expect(expiredList.commands.map((c) => c.id)).toEqual([q4.commands[0]!.id]);
      clock = T0;
    });

    it("a label campaign: answered at once with counts, reaches devices through heartbeats, aborts on failures; cancel, list and purge", async () => {
      clock = T0 + 5_000_000;
      const commands = clientFor(CommandService, "connect-json", base);
      const devices = clientFor(DeviceService, "connect-json", base);
      const label = `campaign-${newDevice()}`;
      const fleet: Array<{ id: string; token: string }> = [];
      for (let i = 0; i < 5; i++) {
        const id = `${label}-${i}`;
        fleet.push({ id, token: await register(id) });
        await devices.setDeviceLabels({ deviceId: id, add: [label] }, { headers: admin });
      }
      clock += 1_000;
      const queued = await commands.queueCommand(
        { target: { target: { case: "label", value: label } }, type: 1, content: "probe", campaign: { abortFailurePercent: 50, abortMinResults: 2 } },
        { headers: admin },
      );
      expect(queued.commands).toEqual([]);
      const campaign = queued.campaign!;
      expect(campaign).toMatchObject({ state: CampaignState.RUNNING, targeted: 0n, estimated: 5n, materialised: false, options: { abortFailurePercent: 50, abortMinResults: 2 } });
      expect(campaign.target?.target).toEqual({ case: "label", value: label });
      // Campaign options make no sense for listed devices; oversized lists are refused.
      await expect(
        commands.queueCommand({ target: { target: { case: "deviceId", value: fleet[0]!.id } }, type: 1, campaign: { retryCount: 1 } }, { headers: admin }),
      ).rejects.toMatchObject({ code: Code.InvalidArgument });
      await expect(
        commands.queueCommand({ target: { target: { case: "label", value: label } }, type: 1, campaign: { abortFailurePercent: 101 } }, { headers: admin }),
      ).rejects.toMatchObject({ code: Code.InvalidArgument });

      const materialised = await eventually(async () => {
        const c = (await commands.getCampaign({ id: campaign.id }, { headers: admin })).campaign!;
        return c.materialised ? c : undefined;
      });
      expect(materialised).toMatchObject({ targeted: 5n, estimated: 5n, state: CampaignState.RUNNING });
      // Three devices check in and get the command; two report failure, one success.
      const got = [];
      for (const d of fleet.slice(0, 3)) {
        const answer = await heartbeat(d.id, d.token);
        const [command] = answer.json!.command as Array<{ id: number; type: number; content: string }>;
        expect(command).toMatchObject({ type: 1, content: "probe" });
        got.push(command!.id);
      }
      await heartbeat(fleet[0]!.id, fleet[0]!.token, JSON.stringify({ result: [{ id: got[0], return: 1, reason: "no" }] }));
      await heartbeat(fleet[1]!.id, fleet[1]!.token, JSON.stringify({ result: [{ id: got[1], return: 0, reason: "ok" }] }));
      expect((await commands.getCampaign({ id: campaign.id }, { headers: admin })).campaign?.state).toBe(CampaignState.RUNNING);
      await heartbeat(fleet[2]!.id, fleet[2]!.token, JSON.stringify({ result: [{ id: got[2], return: 1, reason: "no" }] }));
      const aborted = (await commands.getCampaign({ id: campaign.id }, { headers: admin })).campaign!;
      expect(aborted).toMatchObject({ state: CampaignState.ABORTED, succeeded: 1n, failed: 2n });
      expect(aborted.reason).toContain("2 of 3");
      // The devices that had not checked in get nothing; the job cancels their queued commands.
      expect((await heartbeat(fleet[3]!.id, fleet[3]!.token)).json!.command).toEqual({});
      const cancelled = await eventually(async () => {
        const listed = (await commands.listCommands({ campaignId: campaign.id, state: CommandState.CANCELLED }, { headers: admin })).commands;
        return listed.length === 2 ? listed : undefined;
      });
      expect(cancelled.map((c) => c.deviceId).sort()).toEqual([fleet[3]!.id, fleet[4]!.id]);
      expect((await commands.listCampaigns({ state: CampaignState.ABORTED }, { headers: admin })).campaigns.map((c) => c.id)).toContain(campaign.id);

      // All devices, cancelled by the operator: it ends, its open commands are cancelled.
      const everyone = (await commands.queueCommand({ target: { target: { case: "allDevices", value: true } }, type: 9, content: "" }, { headers: admin })).campaign!;
      expect(everyone.estimated).toBeGreaterThanOrEqual(5n);
      const stopped = await commands.cancelCampaign({ id: everyone.id }, { headers: admin });
      expect(stopped.campaign?.state).toBe(CampaignState.CANCELLED);
      await expect(commands.cancelCampaign({ id: 987_654_321n }, { headers: admin })).rejects.toMatchObject({ code: Code.NotFound });
      await expect(commands.getCampaign({ id: 0n }, { headers: admin })).rejects.toMatchObject({ code: Code.InvalidArgument });

      // Purge the aborted campaign's final commands; open ones cannot be purged.
      await expect(commands.purgeCommands({ state: CommandState.QUEUED }, { headers: admin })).rejects.toMatchObject({ code: Code.InvalidArgument });
      const purged = await commands.purgeCommands({ campaignId: campaign.id }, { headers: admin });
      expect(purged).toMatchObject({ deleted: 5n, more: false });
      expect((await commands.listCommands({ campaignId: campaign.id }, { headers: admin })).commands).toEqual([]);
      // A read key reads campaigns but cannot cancel or purge.
      const reader = bearer(await operatorSecret(t.server.store, "read"));
      expect((await commands.getCampaign({ id: campaign.id }, { headers: reader })).campaign?.id).toBe(campaign.id);
      await expect(commands.purgeCommands({}, { headers: reader })).rejects.toMatchObject({ code: Code.PermissionDenied });
      clock = T0;
    });

    it("online while last_seen + interval + grace > now; list filters", async () => {
      const devices = clientFor(DeviceService, "connect-json", base);
      const id = newDevice();
      clock = T0 + 1_000_000;
      const token = await register(id);
      const list = async (online: OnlineFilter) => (await devices.listDevices({ query: id, online }, { headers: admin })).devices.map((d) => [d.deviceId, d.online]);
      expect(await list(OnlineFilter.ONLINE)).toEqual([[id, true]]);
      clock = T0 + 1_000_000 + 119_999;
      expect(await list(OnlineFilter.ONLINE)).toEqual([[id, true]]);
      clock = T0 + 1_000_000 + 120_000;
      expect(await list(OnlineFilter.OFFLINE)).toEqual([[id, false]]);
      expect(await list(OnlineFilter.ONLINE)).toEqual([]);
      await heartbeat(id, token);
      expect(await list(OnlineFilter.ONLINE)).toEqual([[id, true]]);
      // Operator calls need a key; device credentials never open them.
      await expect(devices.listDevices({}, { headers: { "x-di-deviceid": id, "x-di-token": token } })).rejects.toBeInstanceOf(ConnectError);
      clock = T0;
    });
  });
});

describe("command retention", () => {
  it("the job deletes commands finished more than the retention ago, in small steps; open and recent ones stay", async () => {
    let clock = T0;
    const DAY = 86_400_000;
    const agent = { ...defaultConfig.agent, commandRetentionDays: 1, commandRetentionIntervalMs: 25, commandBatchSize: 2 };
    const t = await startTestServer({ agent }, { now: () => clock });
    try {
      const admin = bearer(await operatorSecret(t.server.store, "admin"));
      const commands = clientFor(CommandService, "connect-json", t.server.url);
      const id = "retained-1";
      expect((await post(t.server.url, "/online", { "X-DI-DEVICEID": id }, fixture("online.seed.request.json"))).status).toBe(200);
      const queue = async () =>
        (await commands.queueCommand({ target: { target: { case: "deviceId", value: id } }, type: 1, content: "", ttl: durationFromMs(30 * DAY) }, { headers: admin })).commands[0]!.id;
      const old = [await queue(), await queue(), await queue(), await queue(), await queue()];
      await commands.cancelCommand({ ids: old }, { headers: admin });
      clock = T0 + DAY / 2;
      const recent = await queue();
      await commands.cancelCommand({ ids: [recent] }, { headers: admin });
      const open = await queue();
      clock = T0 + DAY + 1;
      const until = Date.now() + 10_000;
      let left: bigint[] = [];
      do {
        await new Promise((resolve) => setTimeout(resolve, 25));
        left = (await commands.listCommands({ deviceId: id }, { headers: admin })).commands.map((c) => c.id);
      } while (left.length > 2 && Date.now() < until);
      expect(left.sort()).toEqual([recent, open].sort());
    } finally {
      await t.dispose();
    }
  });
});

describe("closed enrolment and restarts", () => {
  it("unknown ids need the secret; tokens survive a server restart", async () => {
    let clock = T0;
    const agent = { ...defaultConfig.agent, enrollSecret: "s3cret" };
    const first = await startTestServer({ agent }, { now: () => clock });
    const id = "closed-1";
    const body = fixture("online.seed.request.json");
    expect((await post(first.server.url, "/online", { "X-DI-DEVICEID": id }, body)).status).toBe(401);
    expect((await post(first.server.url, "/online", { "X-DI-DEVICEID": id, "X-DI-ENROLL-SECRET": "wrong" }, body)).status).toBe(401);
    const ok = await post(first.server.url, "/online", { "X-DI-DEVICEID": id, "X-DI-ENROLL-SECRET": "s3cret" }, body);
    expect(ok.status).toBe(200);
    const token = ok.json!.token;
    // Known id, no secret, no token: refused; with its token: renewed.
    expect((await post(first.server.url, "/online", { "X-DI-DEVICEID": id }, body)).status).toBe(401);
    await first.server.stop();

    const second = await startTestServer({ agent }, { now: () => clock, dataDir: first.dataDir });
    try {
      const beat = await post(second.server.url, "/heartbeat", { "X-DI-DEVICEID": id, "X-DI-TOKEN": token }, "{}");
      expect(beat.status).toBe(200);
      expect(beat.json!.token).toBe(token);
    } finally {
      await second.dispose();
    }
  });
});

describe("enrolment rate limits (issue 9)", () => {
  it("new devices per client address and overall get 429 with Retry-After; known devices and other addresses are not held up", async () => {
    // Refills so slow (one per 100 s) that a slow machine cannot turn a refusal into a pass.
    const agent = { ...defaultConfig.agent, enrolPerAddressPerSecond: 0.01, enrolPerAddressBurst: 3, enrolTotalPerSecond: 0.01, enrolTotalBurst: 5 };
    // Loopback is a trusted proxy here, so X-Forwarded-For stands for distinct client addresses.
    const t = await startTestServer({ agent, track: { ...defaultConfig.track, trustedProxies: ["127.0.0.1", "::1"] } });
    try {
      const body = fixture("online.seed.request.json");
      const from = (address: string, deviceId: string, extra: Record<string, string> = {}) =>
        post(t.server.url, "/online", { "X-DI-DEVICEID": deviceId, "X-Forwarded-For": address, ...extra }, body);
      const firstThree = await Promise.all([1, 2, 3].map((i) => from("198.51.100.1", `rl-a-${i}`)));
      expect(firstThree.map((a) => a.status)).toEqual([200, 200, 200]);
      const limited = await fetch(new URL("/online", t.server.url), {
        method: "POST",
        headers: { "content-type": "application/json", "X-DI-DEVICEID": "rl-a-4", "X-Forwarded-For": "198.51.100.1" },
        body: new Uint8Array(body),
      });
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect(await limited.json()).toMatchObject({ error: "ENROLMENT_RATE_LIMITED" });
      expect(await t.server.store.agent.getDevice("rl-a-4")).toBeUndefined();
      // A known device re-registering with its token is not a new enrolment.
      const known = firstThree[0]!.json!.token;
      expect((await from("198.51.100.1", "rl-a-1", { "X-DI-TOKEN": known })).status).toBe(200);
      // Another address still gets through, until the overall bucket (5) is empty.
      expect((await from("198.51.100.2", "rl-b-1")).status).toBe(200);
      expect((await from("198.51.100.3", "rl-c-1")).status).toBe(200);
      const overall = await from("198.51.100.4", "rl-d-1");
      expect(overall.status).toBe(429);
      expect(overall.text).toContain("server-wide");
      // The same limit over Connect: resource_exhausted with retry-after metadata.
      const client = clientFor(AgentService, "connect-json", t.server.url);
      const error = await client
        .online({ devicename: "d", ip: "1.2.3.4", macaddress: "m", os: "Linux" }, { headers: { "x-di-deviceid": "rl-e-1", "x-forwarded-for": "198.51.100.5" } })
        .then(() => undefined, (e: unknown) => ConnectError.from(e));
      expect(error?.code).toBe(Code.ResourceExhausted);
      expect(Number(error?.metadata.get("retry-after"))).toBeGreaterThanOrEqual(1);
      const metrics = await (await fetch(new URL("/metrics", t.server.url))).text();
      expect(metrics).toMatch(/fleetbeat_agent_enrolments_total\{outcome="accepted"\} 5\b/);
      expect(metrics).toMatch(/fleetbeat_agent_enrolments_total\{outcome="limited_address"\} 1\b/);
      expect(metrics).toMatch(/fleetbeat_agent_enrolments_total\{outcome="limited_total"\} 2\b/);
    } finally {
      await t.dispose();
    }
  });
});
