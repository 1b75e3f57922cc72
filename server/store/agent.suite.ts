// The agent slice's store behaviour, one suite for every dialect: store.test.ts
// runs it on a database of each. Tests share the suite's database, so each uses
// device ids of its own.
import { createHash, randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import type {
  AgentCampaignRow,
  AgentCampaignStepResult,
  AgentCancelCampaignResult,
  AgentPurgeCommandsOp,
  AgentPurgeCommandsResult,
  AgentStartCampaignOp,
  AgentStartCampaignResult,
  AgentCancelCommandsResult,
  AgentCheckInOp,
  AgentExpireCommandsResult,
  AgentQueueCommandsResult,
  AgentCheckInResult,
  AgentDeviceInfo,
  AgentRegisterOp,
  AgentRegisterResult,
  AgentWriteOp,
  AgentWriteResult,
  Store,
} from "./store.js";
import { openSuiteStore, type SuiteDatabase } from "./store.suite.js";

const info: AgentDeviceInfo = { devicename: "EndPoint1", ip: "127.0.0.1", macaddress: "00:0c:29:59:ab:c6", os: "Linux" };
const hash = (t: string) => createHash("sha256").update(t).digest("hex");
const T0 = 1_700_000_000_000;
/** How long a replaced token still counts as the previous one in these tests. */
const GRACE = 30_000;
const delivery = (now: number) => ({ now, redeliverAfterMs: 180_000, maxCommands: 16 });

export function describeAgentStoreSuite(label: string, freshDatabase: () => Promise<SuiteDatabase>): void {
  describe(`agent store suite: ${label}`, () => {
    let store: Store;
    openSuiteStore(freshDatabase, (opened) => (store = opened));

    async function apply<R extends AgentWriteResult>(op: AgentWriteOp): Promise<R> {
      const [outcome] = await store.apply([op]);
      if (!outcome?.ok) throw outcome?.error ?? new Error("no outcome");
      return outcome.result as R;
    }
    const newId = () => `dev-${randomUUID()}`;
    function registerOp(deviceId: string, token: string, extra: Partial<AgentRegisterOp> = {}): AgentRegisterOp {
      return {
        kind: "agentRegister",
        deviceId,
        info,
        presentedTokenHash: null,
        enrolmentSecretValid: false,
        openEnrolment: true,
        token: { token, expiresAt: T0 + 60_000, previousGraceMs: GRACE },
        delivery: delivery(T0),
        ...extra,
      };
    }
    function checkInOp(deviceId: string, presented: string, mint: string, now: number, extra: Partial<AgentCheckInOp> = {}): AgentCheckInOp {
      return {
        kind: "agentCheckIn",
        deviceId,
        presentedTokenHash: hash(presented),
        info: null,
        results: [],
        token: { token: mint, expiresAt: now + 60_000, previousGraceMs: GRACE },
        delivery: delivery(now),
        ...extra,
      };
    }
    async function registered(): Promise<string> {
      const id = newId();
      expect((await apply<AgentRegisterResult>(registerOp(id, `${id}-t1`))).outcome).toBe("created");
      return id;
    }

    describe("registration", () => {
      it("creates an unknown device under open enrolment and stores only hashes", async () => {
        const id = await registered();
        const row = await store.agent.getDevice(id);
        expect(row).toMatchObject({ deviceId: id, ...info, tokenHash: hash(`${id}-t1`), tokenExpiresAt: T0 + 60_000, previousTokenHash: null, registeredAt: T0, lastSeen: T0 });
      });
      it("closed enrolment: an unknown id needs the secret", async () => {
        const id = newId();
        expect((await apply<AgentRegisterResult>(registerOp(id, "x", { openEnrolment: false }))).outcome).toBe("rejected");
        expect(await store.agent.getDevice(id)).toBeUndefined();
        expect((await apply<AgentRegisterResult>(registerOp(id, "x", { openEnrolment: false, enrolmentSecretValid: true }))).outcome).toBe("created");
      });
      it("a known id re-registers only with its current or previous token (or the secret)", async () => {
        const id = await registered();
        expect((await apply<AgentRegisterResult>(registerOp(id, "stolen"))).outcome).toBe("rejected");
        expect((await apply<AgentRegisterResult>(registerOp(id, "stolen", { presentedTokenHash: hash("guess") }))).outcome).toBe("rejected");
        expect((await store.agent.getDevice(id))?.tokenHash).toBe(hash(`${id}-t1`));
        const renewed = await apply<AgentRegisterResult>(registerOp(id, `${id}-t2`, { presentedTokenHash: hash(`${id}-t1`), info: { ...info, os: "Windows" } }));
        expect(renewed.outcome).toBe("renewed");
        expect(await store.agent.getDevice(id)).toMatchObject({ tokenHash: hash(`${id}-t2`), previousTokenHash: hash(`${id}-t1`), os: "Windows" });
        const takeover = await apply<AgentRegisterResult>(registerOp(id, `${id}-t3`, { enrolmentSecretValid: true }));
        expect(takeover.outcome).toBe("renewed");
        expect(await store.agent.getDevice(id)).toMatchObject({ tokenHash: hash(`${id}-t3`), previousTokenHash: null });
      });
    });

    describe("check-in tokens", () => {
      it("keeps, rotates when expired, rotates for the previous token, rejects others", async () => {
        const id = await registered();
        const keep = await apply<AgentCheckInResult>(checkInOp(id, `${id}-t1`, "unused", T0 + 1000));
        expect(keep.verdict).toBe("keep");
        expect((await store.agent.getDevice(id))?.tokenHash).toBe(hash(`${id}-t1`));
        // Expired: rotate; the presented one becomes the previous.
        const expired = await apply<AgentCheckInResult>(checkInOp(id, `${id}-t1`, `${id}-t2`, T0 + 60_000));
        expect(expired.verdict).toBe("rotate-expired");
        expect(await store.agent.getDevice(id)).toMatchObject({ tokenHash: hash(`${id}-t2`), previousTokenHash: hash(`${id}-t1`), lastSeen: T0 + 60_000 });
        // The answer was lost: the device comes back with t1.
        const lost = await apply<AgentCheckInResult>(checkInOp(id, `${id}-t1`, `${id}-t3`, T0 + 61_000));
        expect(lost.verdict).toBe("rotate-previous");
        expect(await store.agent.getDevice(id)).toMatchObject({ tokenHash: hash(`${id}-t3`), previousTokenHash: hash(`${id}-t1`) });
        expect((await apply<AgentCheckInResult>(checkInOp(id, `${id}-t3`, "unused", T0 + 62_000))).verdict).toBe("keep");
        // Using t3 ended t1's second life.
        expect(await store.agent.getDevice(id)).toMatchObject({ tokenHash: hash(`${id}-t3`), previousTokenHash: null, previousTokenExpiresAt: null });
        expect((await apply<AgentCheckInResult>(checkInOp(id, `${id}-t2`, "unused", T0 + 62_000))).verdict).toBe("reject");
        expect((await apply<AgentCheckInResult>(checkInOp(newId(), `${id}-t3`, "unused", T0 + 62_000))).verdict).toBe("reject");
        expect((await store.agent.getDevice(id))?.lastSeen).toBe(T0 + 62_000);
      });
      it("many check-ins of one device in one batch all count; last_seen is the newest", async () => {
        const id = await registered();
        const ops = [5, 9, 7, 3].map((s) => checkInOp(id, `${id}-t1`, "unused", T0 + s * 1000));
        const outcomes = await store.apply(ops);
        expect(outcomes.map((o) => (o.ok ? (o.result as AgentCheckInResult).verdict : "error"))).toEqual(["keep", "keep", "keep", "keep"]);
        expect((await store.agent.getDevice(id))?.lastSeen).toBe(T0 + 9000);
      });
      it("an update check-in stores the new info", async () => {
        const id = await registered();
        await apply(checkInOp(id, `${id}-t1`, "unused", T0 + 5000, { info: { ...info, ip: "10.0.0.9" } }));
        expect(await store.agent.getDevice(id)).toMatchObject({ ip: "10.0.0.9", updatedAt: T0 + 5000 });
      });
    });

    describe("token replay matrix (a stale token never takes the device over)", () => {
      const t = (id: string, n: number) => `${id}-t${n}`;
      async function verdict(id: string, presented: string, mint: string, now: number): Promise<string> {
        return (await apply<AgentCheckInResult>(checkInOp(id, presented, mint, now))).verdict;
      }
      async function reRegister(id: string, presented: string, mint: string, now: number): Promise<string> {
        return (await apply<AgentRegisterResult>(registerOp(id, mint, { presentedTokenHash: hash(presented), delivery: delivery(now) }))).outcome;
      }

      it("lost answer once: the previous token gets a fresh current token, which then ends it", async () => {
        const id = await registered();
        expect(await reRegister(id, t(id, 1), t(id, 2), T0 + 1000)).toBe("renewed"); // the answer with t2 is lost
        expect(await verdict(id, t(id, 1), t(id, 3), T0 + 2000)).toBe("rotate-previous");
        expect(await verdict(id, t(id, 3), "unused", T0 + 3000)).toBe("keep");
        expect(await verdict(id, t(id, 1), "x", T0 + 4000)).toBe("reject");
        expect(await verdict(id, t(id, 2), "x", T0 + 4000)).toBe("reject");
        expect((await store.agent.getDevice(id))?.tokenHash).toBe(hash(t(id, 3)));
      });

      it("lost answer twice: the previous token still works until a current one is used", async () => {
        const id = await registered();
        expect(await verdict(id, t(id, 1), t(id, 2), T0 + 60_000)).toBe("rotate-expired"); // lost
        expect(await verdict(id, t(id, 1), t(id, 3), T0 + 61_000)).toBe("rotate-previous"); // lost again
        expect(await verdict(id, t(id, 1), t(id, 4), T0 + 62_000)).toBe("rotate-previous");
        expect(await verdict(id, t(id, 4), "unused", T0 + 63_000)).toBe("keep");
        for (const stale of [1, 2, 3]) expect(await verdict(id, t(id, stale), "x", T0 + 64_000)).toBe("reject");
        expect(await verdict(id, t(id, 4), "unused", T0 + 65_000)).toBe("keep");
      });

      it("replay after the device moved on: 401, nothing changes, the device keeps working", async () => {
        const id = await registered();
        expect(await reRegister(id, t(id, 1), t(id, 2), T0 + 1000)).toBe("renewed");
        expect(await verdict(id, t(id, 2), "unused", T0 + 2000)).toBe("keep");
        const before = await store.agent.getDevice(id);
        expect(before).toMatchObject({ tokenHash: hash(t(id, 2)), previousTokenHash: null });
        expect(await verdict(id, t(id, 1), "attacker-1", T0 + 3000)).toBe("reject");
        expect(await reRegister(id, t(id, 1), "attacker-2", T0 + 3000)).toBe("rejected");
        expect(await store.agent.getDevice(id)).toEqual(before);
        expect(await verdict(id, t(id, 2), "unused", T0 + 4000)).toBe("keep");
      });

      it("replay after the previous token's own expiry (or the grace) is refused, by heartbeat and by register", async () => {
        const id = await registered(); // t1 expires at T0 + 60 s
        // Replaced at T0 + 40 s: the grace would reach T0 + 70 s, its own expiry comes first.
        expect(await reRegister(id, t(id, 1), t(id, 2), T0 + 40_000)).toBe("renewed");
        expect(await store.agent.getDevice(id)).toMatchObject({ previousTokenHash: hash(t(id, 1)), previousTokenExpiresAt: T0 + 60_000 });
        expect(await verdict(id, t(id, 1), "x", T0 + 60_000)).toBe("reject");
        expect(await reRegister(id, t(id, 1), "x", T0 + 60_000)).toBe("rejected");
        expect((await store.agent.getDevice(id))?.tokenHash).toBe(hash(t(id, 2)));
        // Replaced early: the grace ends first.
        const other = await registered();
        expect(await reRegister(other, t(other, 1), t(other, 2), T0 + 1000)).toBe("renewed");
        expect(await verdict(other, t(other, 1), "x", T0 + 1000 + GRACE)).toBe("reject");
        expect(await verdict(other, t(other, 1), t(other, 3), T0 + 1000 + GRACE - 1)).toBe("rotate-previous");
      });

      it("a token rotated out because it expired keeps only the grace for a lost answer", async () => {
        const id = await registered();
        expect(await verdict(id, t(id, 1), t(id, 2), T0 + 70_000)).toBe("rotate-expired");
        expect(await store.agent.getDevice(id)).toMatchObject({ previousTokenHash: hash(t(id, 1)), previousTokenExpiresAt: T0 + 70_000 + GRACE });
        expect(await verdict(id, t(id, 1), "x", T0 + 70_000 + GRACE)).toBe("reject");
        expect(await verdict(id, t(id, 2), "unused", T0 + 70_000 + GRACE)).toBe("keep");
      });

      for (const order of [["current", "previous"], ["previous", "current"]] as const) {
        it(`concurrent check-ins on both tokens (${order.join(" first, then ")}, one batch): one wins, the other token is dead after`, async () => {
          const id = await registered();
          expect(await reRegister(id, t(id, 1), t(id, 2), T0 + 1000)).toBe("renewed"); // current t2, previous t1
          const presented = { current: t(id, 2), previous: t(id, 1) };
          const outcomes = await store.apply(order.map((which) => checkInOp(id, presented[which], `${id}-${which}-mint`, T0 + 2000)));
          const verdicts = outcomes.map((o) => (o.ok ? (o.result as AgentCheckInResult).verdict : "error"));
          expect(verdicts).toEqual(order[0] === "current" ? ["keep", "reject"] : ["rotate-previous", "reject"]);
          const winner = order[0] === "current" ? t(id, 2) : `${id}-previous-mint`;
          expect(await verdict(id, winner, "unused", T0 + 3000)).toBe("keep");
          expect(await verdict(id, t(id, 1), "x", T0 + 3000)).toBe("reject");
          expect(await store.agent.getDevice(id)).toMatchObject({ tokenHash: hash(winner), previousTokenHash: null });
        });
      }

      it("concurrent check-ins on both tokens in separate transactions: exactly one wins", async () => {
        const id = await registered();
        expect(await reRegister(id, t(id, 1), t(id, 2), T0 + 1000)).toBe("renewed");
        const [a, b] = await Promise.all([
          store.apply([checkInOp(id, t(id, 2), `${id}-a`, T0 + 2000)]),
          store.apply([checkInOp(id, t(id, 1), `${id}-b`, T0 + 2000)]),
        ]);
        const va = a[0]?.ok ? (a[0].result as AgentCheckInResult).verdict : "error";
        const vb = b[0]?.ok ? (b[0].result as AgentCheckInResult).verdict : "error";
        expect([va, vb].filter((v) => v === "reject")).toHaveLength(1);
        const winner = va === "keep" ? t(id, 2) : `${id}-b`;
        expect(await verdict(id, winner, "unused", T0 + 3000)).toBe("keep");
        for (const stale of [t(id, 1), va === "keep" ? `${id}-b` : t(id, 2)]) expect(await verdict(id, stale, "x", T0 + 3000)).toBe("reject");
      });
    });

    describe("commands", () => {
      it("ride the next answer, come back after the redelivery delay, finish with this device's result only", async () => {
        const a = await registered();
        const b = await registered();
        const queued = await apply<AgentQueueCommandsResult>({
          kind: "agentQueueCommands",
          target: { kind: "devices", deviceIds: [b, a] },
          type: 1,
          content: '{"whitelist":["/bin"]}',
          createdAt: T0,
          deadline: T0 + 3_600_000,
        });
        expect(queued.unknownDeviceIds).toEqual([]);
        expect(queued.commands.map((c) => [c.deviceId, c.state])).toEqual([a, b].sort().map((d) => [d, "queued"]));
        const cmdA = queued.commands.find((c) => c.deviceId === a)!;
        const cmdB = queued.commands.find((c) => c.deviceId === b)!;

        const first = await apply<AgentCheckInResult>(checkInOp(a, `${a}-t1`, "u", T0 + 1000));
        expect(first.commands.map((c) => [c.id, c.type, c.content, c.state, c.deliveryCount])).toEqual([[cmdA.id, 1, '{"whitelist":["/bin"]}', "delivered", 1]]);
        // Not again before the redelivery delay.
        expect((await apply<AgentCheckInResult>(checkInOp(a, `${a}-t1`, "u", T0 + 2000))).commands).toEqual([]);
        // Device a reports on b's command: nothing happens.
        await apply(checkInOp(b, `${b}-t1`, "u", T0 + 1000));
        const forged = await apply<AgentCheckInResult>(checkInOp(a, `${a}-t1`, "u", T0 + 3000, { results: [{ id: cmdB.id, returnCode: 0, reason: "ok" }] }));
        expect(forged.resultsApplied).toBe(0);
        expect((await store.agent.getCommands([cmdB.id]))[0]?.state).toBe("delivered");
        // After the delay: delivered again.
        const again = await apply<AgentCheckInResult>(checkInOp(a, `${a}-t1`, "u", T0 + 1000 + 180_000));
        expect(again.commands.map((c) => [c.id, c.deliveryCount])).toEqual([[cmdA.id, 2]]);
        // Its own result finishes it; the reason is stored.
        const reason = "失败".repeat(128);
        const done = await apply<AgentCheckInResult>(checkInOp(a, `${a}-t1`, "u", T0 + 200_000, { results: [{ id: cmdA.id, returnCode: 1, reason }] }));
        expect(done.resultsApplied).toBe(1);
        expect((await store.agent.getCommands([cmdA.id]))[0]).toMatchObject({ state: "failed", returnCode: 1, reason, finishedAt: T0 + 200_000, deliveredAt: T0 + 1000, deliveryCount: 2 });
        // A late duplicate result changes nothing.
        expect((await apply<AgentCheckInResult>(checkInOp(a, `${a}-t1`, "u", T0 + 201_000, { results: [{ id: cmdA.id, returnCode: 0, reason: "ok" }] }))).resultsApplied).toBe(0);
      });
      it("unknown devices queue nothing; labels are set and removed", async () => {
        const a = await registered();
        const unknown = await apply<AgentQueueCommandsResult>({
          kind: "agentQueueCommands", target: { kind: "devices", deviceIds: [a, "nope-" + a] }, type: 2, content: "", createdAt: T0, deadline: T0 + 1000,
        });
        expect(unknown).toEqual({ kind: "agentQueueCommands", commands: [], unknownDeviceIds: ["nope-" + a] });
        const label = `label-${randomUUID()}`;
        expect(await apply({ kind: "agentSetLabels", deviceId: a, add: [label, "x"], remove: [] })).toEqual({ kind: "agentSetLabels", found: true });
        await apply({ kind: "agentSetLabels", deviceId: a, add: [], remove: ["x"] });
        expect((await store.agent.labelsOf([a])).get(a)).toEqual([label]);
        expect(await apply({ kind: "agentSetLabels", deviceId: "nope", add: [label], remove: [] })).toEqual({ kind: "agentSetLabels", found: false });
        expect(await store.agent.listDevices({ label, limit: 10 })).toHaveLength(1);
      });
      it("expire after their deadline, cancel while open, and never ride past the deadline", async () => {
        const a = await registered();
        const q = await apply<AgentQueueCommandsResult>({
          kind: "agentQueueCommands", target: { kind: "devices", deviceIds: [a, a] }, type: 1, content: "", createdAt: T0, deadline: T0 + 10_000,
        });
        expect(q.commands).toHaveLength(1);
        const q2 = await apply<AgentQueueCommandsResult>({
          kind: "agentQueueCommands", target: { kind: "devices", deviceIds: [a] }, type: 2, content: "", createdAt: T0, deadline: T0 + 10_000,
        });
        const [c1, c2] = [q.commands[0]!.id, q2.commands[0]!.id];
        const cancelled = await apply<AgentCancelCommandsResult>({ kind: "agentCancelCommands", ids: [c2, 99_999_999_999], now: T0 + 1 });
        expect(cancelled.commands.map((c) => [c.id, c.state])).toEqual([[c2, "cancelled"]]);
        expect((await apply<AgentCheckInResult>(checkInOp(a, `${a}-t1`, "u", T0 + 10_000))).commands).toEqual([]);
        const expired = await apply<AgentExpireCommandsResult>({ kind: "agentExpireCommands", now: T0 + 10_000, limit: 1000 });
        expect(expired.expired).toBeGreaterThanOrEqual(1);
        expect((await store.agent.getCommands([c1, c2])).map((c) => c.state)).toEqual(["expired", "cancelled"]);
        // Cancelling a final command leaves it as it is.
        const late = await apply<AgentCancelCommandsResult>({ kind: "agentCancelCommands", ids: [c1], now: T0 + 20_000 });
        expect(late.commands[0]?.state).toBe("expired");
        const history = await store.agent.listCommands({ deviceId: a, limit: 10 });
        expect(history.map((c) => c.id)).toEqual([c2, c1]);
        expect((await store.agent.listCommands({ deviceId: a, state: "expired", limit: 10 })).map((c) => c.id)).toEqual([c1]);
        expect((await store.agent.listCommands({ deviceId: a, beforeId: c2, limit: 10 })).map((c) => c.id)).toEqual([c1]);
      });
    });

    // A batch must come out as its operations applied one by one, in order, however a dialect groups them.
    describe("batches", () => {
      const verdictsOf = (outcomes: Awaited<ReturnType<Store["apply"]>>) =>
        outcomes.map((o) => (o.ok ? (o.result as AgentCheckInResult).verdict : "error"));
      const queue = (deviceIds: string[], type: number) =>
        apply<AgentQueueCommandsResult>({ kind: "agentQueueCommands", target: { kind: "devices", deviceIds }, type, content: `c${type}`, createdAt: T0, deadline: T0 + 3_600_000 });

      it("decides the check-ins of many devices in one batch; a device twice in it decides on what its first check-in left", async () => {
        const [d0, d1, d2, d3] = [await registered(), await registered(), await registered(), await registered()];
        const expired = T0 + 60_000; // every t1 has just expired
        const outcomes = await store.apply([
          checkInOp(d0, `${d0}-t1`, `${d0}-t2`, expired),
          checkInOp(d1, `${d1}-t1`, `${d1}-t2`, expired),
          checkInOp(d2, "stolen", "x", expired),
          // d0 again with t1, now its previous token: the answer with t2 was "lost".
          checkInOp(d0, `${d0}-t1`, `${d0}-t3`, expired + 1),
          checkInOp(d3, `${d3}-t1`, "unused", T0 + 1000),
          checkInOp(newId(), "any", "x", expired),
          // d1 again with the token it was just given.
          checkInOp(d1, `${d1}-t2`, "unused", expired + 2),
        ]);
        expect(verdictsOf(outcomes)).toEqual(["rotate-expired", "rotate-expired", "reject", "rotate-previous", "keep", "reject", "keep"]);
        expect(await store.agent.getDevice(d0)).toMatchObject({ tokenHash: hash(`${d0}-t3`), previousTokenHash: hash(`${d0}-t1`), lastSeen: expired + 1 });
        expect(await store.agent.getDevice(d1)).toMatchObject({ tokenHash: hash(`${d1}-t2`), previousTokenHash: null, lastSeen: expired + 2 });
        expect(await store.agent.getDevice(d2)).toMatchObject({ tokenHash: hash(`${d2}-t1`), lastSeen: T0 });
        expect(await store.agent.getDevice(d3)).toMatchObject({ tokenHash: hash(`${d3}-t1`), lastSeen: T0 + 1000 });
      });

      it("runs mixed kinds in order: a command queued in the batch rides the check-ins after it, not the one before", async () => {
        const [a, b] = [await registered(), await registered()];
        const outcomes = await store.apply([
          checkInOp(a, `${a}-t1`, "u", T0 + 1000),
          { kind: "agentQueueCommands", target: { kind: "devices", deviceIds: [a, b] }, type: 1, content: "new", createdAt: T0 + 1000, deadline: T0 + 3_600_000 },
          checkInOp(a, `${a}-t1`, "u", T0 + 1001),
          checkInOp(b, `${b}-t1`, "u", T0 + 1001),
        ]);
        expect(outcomes.map((o) => o.ok)).toEqual([true, true, true, true]);
        const [before, queued, afterA, afterB] = outcomes.map((o) => (o.ok ? o.result : undefined)) as [
          AgentCheckInResult, AgentQueueCommandsResult, AgentCheckInResult, AgentCheckInResult,
        ];
        expect(before.commands).toEqual([]);
        const id = (device: string) => queued.commands.find((c) => c.deviceId === device)!.id;
        expect(afterA.commands.map((c) => [c.id, c.deviceId, c.content, c.deliveryCount])).toEqual([[id(a), a, "new", 1]]);
        expect(afterB.commands.map((c) => [c.id, c.deviceId, c.content, c.deliveryCount])).toEqual([[id(b), b, "new", 1]]);
      });

      it("applies the results of several devices in one batch, each to its own commands, and delivers each device its own due commands", async () => {
        const [a, b, c] = [await registered(), await registered(), await registered()];
        const first = await queue([a, b, c], 1);
        const cmd = (device: string) => first.commands.find((x) => x.deviceId === device)!.id;
        expect((await store.apply([a, b, c].map((d) => checkInOp(d, `${d}-t1`, "u", T0 + 1000)))).every((o) => o.ok)).toBe(true);
        const second = await queue([a, b], 2);
        const third = await queue([a, b], 3);
        await queue([a, b], 4);
        const outcomes = await store.apply([
          // a reports its command twice (the first report counts) and b's command, which is not a's to finish.
          checkInOp(a, `${a}-t1`, "u", T0 + 2000, {
            results: [{ id: cmd(a), returnCode: 0, reason: "ok" }, { id: cmd(a), returnCode: 1, reason: "again" }, { id: cmd(b), returnCode: 0, reason: "forged" }],
            delivery: { ...delivery(T0 + 2000), maxCommands: 1 },
          }),
          checkInOp(b, `${b}-t1`, "u", T0 + 2000, { results: [{ id: cmd(b), returnCode: 7, reason: "b failed" }], delivery: { ...delivery(T0 + 2000), maxCommands: 2 } }),
          checkInOp(c, `${c}-t1`, "u", T0 + 2000),
        ]);
        const results = outcomes.map((o) => (o.ok ? (o.result as AgentCheckInResult) : undefined));
        expect(results.map((r) => r?.resultsApplied)).toEqual([1, 1, 0]);
        expect((await store.agent.getCommands([cmd(a), cmd(b), cmd(c)])).map((x) => [x.state, x.returnCode, x.reason])).toEqual([
          ["succeeded", 0, "ok"],
          ["failed", 7, "b failed"],
          ["delivered", null, null],
        ]);
        const of = (q: AgentQueueCommandsResult, device: string) => q.commands.find((x) => x.deviceId === device)!.id;
        // At most maxCommands per device (1 for a, 2 for b), its oldest due ones.
        expect(results[0]?.commands.map((x) => x.id)).toEqual([of(second, a)]);
        expect(results[1]?.commands.map((x) => x.id)).toEqual([of(second, b), of(third, b)]);
        // c's command was delivered a second ago: not due again.
        expect(results[2]?.commands).toEqual([]);
      });

      it("fails one bad check-in alone: the others of the batch commit, the bad one changes nothing", async () => {
        const [a, b, c] = [await registered(), await registered(), await registered()];
        const q = await queue([a, b, c], 1);
        const cmd = (device: string) => q.commands.find((x) => x.deviceId === device)!.id;
        await store.apply([a, b, c].map((d) => checkInOp(d, `${d}-t1`, "u", T0 + 1000)));
        const outcomes = await store.apply([
          checkInOp(a, `${a}-t1`, "u", T0 + 2000, { results: [{ id: cmd(a), returnCode: 0, reason: "" }] }),
          // NOT NULL breaks on the device row: this check-in fails, and its result with it.
          checkInOp(b, `${b}-t1`, `${b}-t2`, T0 + 60_000, {
            info: { ...info, devicename: null as unknown as string },
            results: [{ id: cmd(b), returnCode: 0, reason: "" }],
          }),
          checkInOp(c, `${c}-t1`, `${c}-t2`, T0 + 60_000, { results: [{ id: cmd(c), returnCode: 1, reason: "no" }] }),
        ]);
        expect(outcomes.map((o) => o.ok)).toEqual([true, false, true]);
        expect(outcomes[1]?.ok === false && outcomes[1].error).toBeInstanceOf(Error);
        expect(verdictsOf([outcomes[0]!, outcomes[2]!])).toEqual(["keep", "rotate-expired"]);
        expect((await store.agent.getCommands([cmd(a), cmd(b), cmd(c)])).map((x) => x.state)).toEqual(["succeeded", "delivered", "failed"]);
        expect(await store.agent.getDevice(b)).toMatchObject({ tokenHash: hash(`${b}-t1`), devicename: info.devicename, lastSeen: T0 + 1000 });
        expect(await store.agent.getDevice(c)).toMatchObject({ tokenHash: hash(`${c}-t2`), lastSeen: T0 + 60_000 });
      });

      it("registers several devices in one batch, a repeated registration deciding on what the first left", async () => {
        const known = await registered();
        const [n1, n2, n3] = [newId(), newId(), newId()];
        const outcomes = await store.apply([
          registerOp(n1, `${n1}-t1`, { delivery: delivery(T0 + 10) }),
          registerOp(known, `${known}-t2`, { presentedTokenHash: hash(`${known}-t1`), info: { ...info, os: "Windows" }, delivery: delivery(T0 + 10) }),
          registerOp(n2, "x", { openEnrolment: false }),
          // The known device again, presenting the token its registration just gave it.
          registerOp(known, `${known}-t3`, { presentedTokenHash: hash(`${known}-t2`), delivery: delivery(T0 + 20) }),
        ]);
        const outcomesOf = (list: typeof outcomes) => list.map((o) => (o.ok ? (o.result as AgentRegisterResult).outcome : "error"));
        expect(outcomesOf(outcomes)).toEqual(["created", "renewed", "rejected", "renewed"]);
        expect(await store.agent.getDevice(n1)).toMatchObject({ tokenHash: hash(`${n1}-t1`), previousTokenHash: null, registeredAt: T0 + 10, lastSeen: T0 + 10 });
        expect(await store.agent.getDevice(known)).toMatchObject({ tokenHash: hash(`${known}-t3`), previousTokenHash: hash(`${known}-t2`), os: "Linux", updatedAt: T0 + 20 });
        expect(await store.agent.getDevice(n2)).toBeUndefined();
        // A new device twice in one batch: created, then renewed with the token it was just given.
        const again = await store.apply([
          registerOp(n3, `${n3}-t1`, { delivery: delivery(T0 + 30) }),
          registerOp(n3, `${n3}-t2`, { presentedTokenHash: hash(`${n3}-t1`), delivery: delivery(T0 + 40) }),
        ]);
        expect(outcomesOf(again)).toEqual(["created", "renewed"]);
        expect(await store.agent.getDevice(n3)).toMatchObject({ tokenHash: hash(`${n3}-t2`), previousTokenHash: hash(`${n3}-t1`), registeredAt: T0 + 30, lastSeen: T0 + 40 });
      });
    });

    describe("device listing", () => {
      it("filters by last seen, os, label and prefix, pages by device id", async () => {
        const prefix = `list-${randomUUID()}-`;
        const ids = [0, 1, 2, 3].map((i) => `${prefix}${i}`);
        for (const [i, id] of ids.entries()) {
          await apply(registerOp(id, `${id}-t1`, { info: { ...info, os: i % 2 ? "Windows" : "Linux" }, delivery: delivery(T0 + i * 1000) }));
        }
        const seen = (f: Partial<Parameters<Store["agent"]["listDevices"]>[0]>) =>
          store.agent.listDevices({ query: prefix, limit: 100, ...f }).then((rows) => rows.map((r) => r.deviceId));
        expect(await seen({})).toEqual(ids);
        expect(await seen({ seenAfter: T0 + 1000 })).toEqual(ids.slice(2));
        expect(await seen({ notSeenAfter: T0 + 1000 })).toEqual(ids.slice(0, 2));
        expect(await seen({ os: "Windows" })).toEqual([ids[1], ids[3]]);
        expect(await seen({ limit: 2 })).toEqual(ids.slice(0, 2));
        expect(await seen({ afterDeviceId: ids[1] })).toEqual(ids.slice(2));
        const label = `l-${randomUUID()}`;
        await apply({ kind: "agentSetLabels", deviceId: ids[2]!, add: [label], remove: [] });
        expect(await seen({ label })).toEqual([ids[2]]);
        expect(await store.agent.listDevices({ query: "EndPoint1-no-such", limit: 5 })).toEqual([]);
      });

      it("query matches a prefix of the device id or the name, character for character (no wildcards, no folding, any plane)", async () => {
        const tag = randomUUID().slice(0, 8);
        const names = [
          `q${tag}%x`, `q${tag}_y`, `q${tag}ab`, `q${tag}\\z`, `q${tag}Büro-1`, `q${tag}Büro-2`, `q${tag}😀-1`, `q${tag}😀😀`,
          `q${tag}\uFFFF`, `q${tag}\u{10000}`, `q${tag}\u{10FFFF}!`, `Q${tag}ab`, `q${tag}\uFFFDr`, `q${tag}`,
        ];
        // Ids in the order of `names` (device id order), and one id with `_` whose name matches nothing below.
        const ids = names.map((_, i) => `pfx-${tag}-${String(i).padStart(2, "0")}`);
        for (const [i, id] of ids.entries()) await apply(registerOp(id, `${id}-t1`, { info: { ...info, devicename: names[i]! } }));
        const underscoreId = `pfx_${tag}`;
        await apply(registerOp(underscoreId, `${underscoreId}-t1`, { info: { ...info, devicename: `other-${tag}` } }));
        const found = async (query: string) => (await store.agent.listDevices({ query, limit: 100 })).map((r) => r.devicename);
        expect(await found(`q${tag}%`)).toEqual([`q${tag}%x`]);
        expect(await found(`q${tag}_`)).toEqual([`q${tag}_y`]);
        expect(await found(`q${tag}\\`)).toEqual([`q${tag}\\z`]);
        expect(await found(`q${tag}a`)).toEqual([`q${tag}ab`]);
        expect(await found(`q${tag}Bü`)).toEqual([`q${tag}Büro-1`, `q${tag}Büro-2`]);
        expect(await found(`q${tag}Bu`)).toEqual([]);
        expect(await found(`q${tag}😀`)).toEqual([`q${tag}😀-1`, `q${tag}😀😀`]);
        expect(await found(`q${tag}😀😀`)).toEqual([`q${tag}😀😀`]);
        expect(await found(`q${tag}\uFFFF`)).toEqual([`q${tag}\uFFFF`]);
        expect(await found(`q${tag}\u{10000}`)).toEqual([`q${tag}\u{10000}`]);
        expect(await found(`q${tag}\u{10FFFF}`)).toEqual([`q${tag}\u{10FFFF}!`]);
        // A lone surrogate reaches the database as U+FFFD, as every string parameter does.
        expect(await found(`q${tag}\uD800`)).toEqual([`q${tag}\uFFFDr`]);
        expect(await found(`q${tag}`)).toEqual(names.filter((n) => n.startsWith("q")));
        expect(await found(`Q${tag}`)).toEqual([`Q${tag}ab`]);
        // Id prefixes: `_` is no wildcard there either.
        expect(await found(`pfx-${tag}-1`)).toEqual(names.slice(10));
        expect(await found(underscoreId)).toEqual([`other-${tag}`]);
        expect(await found(`pfx-${tag}-00`)).toEqual([names[0]]);
        // With the other filters and the page token.
        const page = await store.agent.listDevices({ query: `q${tag}`, afterDeviceId: ids[6], os: "Linux", limit: 3 });
        expect(page.map((r) => r.deviceId)).toEqual(ids.slice(7, 10));
      });

      it("query matching thousands of devices (the id-order walk, not the indexes) compares the same way", async () => {
        const tag = randomUUID().slice(0, 8);
        const ids = Array.from({ length: 2_100 }, (_, i) => `bulk-${tag}-${String(i).padStart(4, "0")}`);
        await store.apply(ids.map((id, i) => registerOp(id, `${id}-t1`, { info: { ...info, devicename: `n${tag}%😀${i}` } })));
        // Decoys a wildcard, a folded or a miscounted comparison would let in.
        await apply(registerOp(`bulk-${tag}-x`, "x-t1", { info: { ...info, devicename: `n${tag}X😀` } }));
        await apply(registerOp(`bulk_${tag}-y`, "y-t1", { info: { ...info, devicename: `N${tag}%😀` } }));
        const found = async (query: string, afterDeviceId?: string) =>
          (await store.agent.listDevices({ query, limit: 3, ...(afterDeviceId ? { afterDeviceId } : {}) })).map((r) => r.deviceId);
        expect(await found(`n${tag}%😀`)).toEqual(ids.slice(0, 3));
        expect(await found(`n${tag}%`, ids[2_096])).toEqual(ids.slice(2_097));
        expect(await found(`bulk-${tag}-`, ids[2_098])).toEqual([ids[2_099], `bulk-${tag}-x`]);
        expect(await found(`bulk-${tag}`)).toEqual(ids.slice(0, 3));
      });
      it("delete forgets the device and cancels its open commands", async () => {
        const a = await registered();
        const q = await apply<AgentQueueCommandsResult>({
          kind: "agentQueueCommands", target: { kind: "devices", deviceIds: [a] }, type: 1, content: "", createdAt: T0, deadline: T0 + 10_000,
        });
        expect(await apply({ kind: "agentDeleteDevice", deviceId: a, now: T0 + 5 })).toEqual({ kind: "agentDeleteDevice", deleted: true });
        expect(await store.agent.getDevice(a)).toBeUndefined();
        expect((await store.agent.getCommands([q.commands[0]!.id]))[0]?.state).toBe("cancelled");
        expect((await apply<AgentCheckInResult>(checkInOp(a, `${a}-t1`, "u", T0 + 6))).verdict).toBe("reject");
        expect(await apply({ kind: "agentDeleteDevice", deviceId: a, now: T0 + 7 })).toEqual({ kind: "agentDeleteDevice", deleted: false });
      });
    });

    // Last in the file: an all-devices campaign here queues a command for every device of this database.
    describe("campaigns", () => {
      const policy = { devicesPerMinute: 0, abortFailurePercent: 0, abortMinResults: 0, retryCount: 0, retryBackoffMs: 0 };
      /** `n` devices registered at T0, carrying a label of their own; ids in device id order. */
      async function labelled(n: number): Promise<{ label: string; ids: string[] }> {
        const label = `camp-${randomUUID()}`;
        const ids = Array.from({ length: n }, (_, i) => `${label}-d${i}`);
        for (const id of ids) {
          await apply(registerOp(id, `${id}-t1`));
          await apply({ kind: "agentSetLabels", deviceId: id, add: [label], remove: [] });
        }
        return { label, ids };
      }
      async function start(label: string | null, extra: Partial<AgentStartCampaignOp> = {}): Promise<AgentCampaignRow> {
        const op: AgentStartCampaignOp = {
          kind: "agentStartCampaign",
          target: label === null ? { kind: "all" } : { kind: "label", label },
          type: 1,
          content: "campaign",
          createdAt: T0 + 100,
          deadline: T0 + 3_600_000,
          policy,
          estimateCap: 10_000,
          ...extra,
        };
        return (await apply<AgentStartCampaignResult>(op)).campaign;
      }
      const step = (campaignId: number, now: number, maxDevices = 1000) => apply<AgentCampaignStepResult>({ kind: "agentCampaignStep", campaignId, now, maxDevices });
      async function stepUntilDone(campaignId: number, now: number, maxDevices = 1000): Promise<number> {
        let steps = 0;
        for (;;) {
          steps++;
          if (!(await step(campaignId, now, maxDevices)).more) return steps;
        }
      }
      const commandsOf = async (campaignId: number) => (await store.agent.listCommands({ campaignId, limit: 1000 })).sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : a.id - b.id));
      const deliverTo = async (id: string, now: number, results: AgentCheckInOp["results"] = []) =>
        apply<AgentCheckInResult>(checkInOp(id, `${id}-t1`, "u", now, { results }));

      it("starts with a row and an estimate only; steps give devices their command in chunks along device id order; later devices are not targeted", async () => {
        const { label, ids } = await labelled(5);
        const c = await start(label);
        expect(c).toMatchObject({ target: "label", label, state: "running", targeted: 0, estimated: 5, materialised: false, cursor: null, sweeping: false });
        expect(await commandsOf(c.id)).toEqual([]);
        expect(await store.agent.activeCampaignIds()).toContain(c.id);
        // Registered (and labelled) after the campaign started: not targeted.
        const late = `${label}-d9`;
        await apply(registerOp(late, `${late}-t1`, { delivery: delivery(T0 + 200) }));
        await apply({ kind: "agentSetLabels", deviceId: late, add: [label], remove: [] });

        const first = await step(c.id, T0 + 300, 2);
        expect(first).toMatchObject({ changed: 2, more: true, campaign: { targeted: 2, cursor: ids[1], materialised: false } });
        expect((await commandsOf(c.id)).map((x) => x.deviceId)).toEqual(ids.slice(0, 2));
        expect(await stepUntilDone(c.id, T0 + 300, 2)).toBe(2);
        const after = await store.agent.getCampaign(c.id);
        expect(after).toMatchObject({ targeted: 5, estimated: 5, materialised: true, state: "running" });
        const cmds = await commandsOf(c.id);
        expect(cmds.map((x) => [x.deviceId, x.state, x.campaignId, x.attempt, x.type, x.content, x.deadline])).toEqual(
          ids.map((id) => [id, "queued", c.id, 0, 1, "campaign", T0 + 3_600_000]),
        );
        // The command rides the device's next answer like any other.
        const answer = await deliverTo(ids[0]!, T0 + 400);
        expect(answer.commands.map((x) => [x.id, x.campaignId])).toEqual([[cmds[0]!.id, c.id]]);
        expect((await deliverTo(late, T0 + 400)).commands).toEqual([]);
        // Every result in: completed.
        for (const id of ids.slice(1)) await deliverTo(id, T0 + 400);
        for (const [i, id] of ids.entries()) await deliverTo(id, T0 + 500, [{ id: cmds[i]!.id, returnCode: 0, reason: "" }]);
        await step(c.id, T0 + 600);
        expect(await store.agent.getCampaign(c.id)).toMatchObject({ state: "completed", finishedAt: T0 + 600, succeeded: 5, failed: 0 });
        expect(await store.agent.activeCampaignIds()).not.toContain(c.id);
      });

      it("rate limit: the first device at once, then devices_per_minute per minute", async () => {
        const { label } = await labelled(5);
        const c = await start(label, { policy: { ...policy, devicesPerMinute: 2 } });
        expect(await step(c.id, T0 + 100)).toMatchObject({ changed: 1, more: false });
        expect(await step(c.id, T0 + 100)).toMatchObject({ changed: 0, more: false });
        expect(await step(c.id, T0 + 100 + 30_000)).toMatchObject({ changed: 1, more: false });
        expect(await step(c.id, T0 + 100 + 59_999)).toMatchObject({ changed: 0 });
        expect(await step(c.id, T0 + 100 + 120_000)).toMatchObject({ changed: 3, campaign: { targeted: 5, materialised: true } });
      });

      it("abort criteria: failures above X % after at least N results abort; queued commands are cancelled in chunks and no longer ride", async () => {
        const { label, ids } = await labelled(5);
        const c = await start(label, { policy: { ...policy, abortFailurePercent: 50, abortMinResults: 2 } });
        await stepUntilDone(c.id, T0 + 200);
        const cmds = await commandsOf(c.id);
        for (const id of ids.slice(0, 3)) await deliverTo(id, T0 + 300);
        await deliverTo(ids[0]!, T0 + 400, [{ id: cmds[0]!.id, returnCode: 1, reason: "no" }]);
        expect(await store.agent.getCampaign(c.id)).toMatchObject({ state: "running", failed: 1 }); // 1 result: below N
        await deliverTo(ids[1]!, T0 + 400, [{ id: cmds[1]!.id, returnCode: 0, reason: "" }]);
        expect(await store.agent.getCampaign(c.id)).toMatchObject({ state: "running", failed: 1, succeeded: 1 }); // 50 %: not above
        await deliverTo(ids[2]!, T0 + 400, [{ id: cmds[2]!.id, returnCode: 1, reason: "no" }]);
        const aborted = await store.agent.getCampaign(c.id);
        expect(aborted).toMatchObject({ state: "aborted", finishedAt: T0 + 400, failed: 2, succeeded: 1, sweeping: true });
        expect(aborted?.reason).toContain("2 of 3");
        // Its queued commands no longer ride, even before the job cancels them.
        expect((await deliverTo(ids[3]!, T0 + 500)).commands).toEqual([]);
        expect(await step(c.id, T0 + 600, 1)).toMatchObject({ changed: 1, more: true });
        expect(await step(c.id, T0 + 600, 1)).toMatchObject({ changed: 1, more: true });
        expect(await step(c.id, T0 + 600, 1)).toMatchObject({ changed: 0, more: false, campaign: { sweeping: false, state: "aborted" } });
        expect((await commandsOf(c.id)).map((x) => x.state)).toEqual(["failed", "succeeded", "failed", "cancelled", "cancelled"]);
        expect(await store.agent.activeCampaignIds()).not.toContain(c.id);
      });

      it("a batch of check-ins takes campaign results in order: a device before the aborting result still gets its command, one after it does not", async () => {
        const { label, ids } = await labelled(4);
        const c = await start(label, { policy: { ...policy, abortFailurePercent: 50, abortMinResults: 1 } });
        await stepUntilDone(c.id, T0 + 200);
        const cmds = await commandsOf(c.id);
        expect((await deliverTo(ids[0]!, T0 + 300)).commands.map((x) => x.id)).toEqual([cmds[0]!.id]);
        const outcomes = await store.apply([
          checkInOp(ids[1]!, `${ids[1]}-t1`, "u", T0 + 400),
          checkInOp(ids[0]!, `${ids[0]}-t1`, "u", T0 + 400, { results: [{ id: cmds[0]!.id, returnCode: 1, reason: "no" }] }),
          checkInOp(ids[2]!, `${ids[2]}-t1`, "u", T0 + 400),
          checkInOp(ids[3]!, `${ids[3]}-t1`, "u", T0 + 400),
        ]);
        const results = outcomes.map((o) => (o.ok ? (o.result as AgentCheckInResult) : undefined));
        expect(results.map((r) => r?.commands.map((x) => x.id))).toEqual([[cmds[1]!.id], [], [], []]);
        expect(results[1]?.resultsApplied).toBe(1);
        expect(await store.agent.getCampaign(c.id)).toMatchObject({ state: "aborted", failed: 1, finishedAt: T0 + 400 });
      });

      it("retry policy: a failed result queues a new command after the backoff, up to the count", async () => {
        const { label, ids } = await labelled(1);
        const id = ids[0]!;
        const c = await start(label, { policy: { ...policy, retryCount: 1, retryBackoffMs: 60_000 } });
        await stepUntilDone(c.id, T0 + 200);
        const [first] = (await deliverTo(id, T0 + 300)).commands;
        await deliverTo(id, T0 + 400, [{ id: first!.id, returnCode: 1, reason: "busy" }]);
        expect(await store.agent.getCampaign(c.id)).toMatchObject({ state: "running", retried: 1, failed: 0 });
        expect((await deliverTo(id, T0 + 400 + 59_999)).commands).toEqual([]);
        const [retry] = (await deliverTo(id, T0 + 400 + 60_000)).commands;
        expect(retry).toMatchObject({ campaignId: c.id, attempt: 1, type: 1, content: "campaign", state: "delivered" });
        expect(retry!.id).not.toBe(first!.id);
        await deliverTo(id, T0 + 70_000, [{ id: retry!.id, returnCode: 1, reason: "still busy" }]);
        expect(await store.agent.getCampaign(c.id)).toMatchObject({ retried: 1, failed: 1 });
        expect((await deliverTo(id, T0 + 200_000)).commands).toEqual([]);
        await step(c.id, T0 + 200_000);
        expect(await store.agent.getCampaign(c.id)).toMatchObject({ state: "completed" });
        expect((await commandsOf(c.id)).map((x) => [x.attempt, x.state])).toEqual([[0, "failed"], [1, "failed"]]);
      });

      it("timeout: past its deadline the campaign ends expired and its open commands expire (in bounded operations)", async () => {
        const { label, ids } = await labelled(3);
        const c = await start(label, { deadline: T0 + 10_000 });
        await stepUntilDone(c.id, T0 + 200);
        await deliverTo(ids[0]!, T0 + 300);
        expect(await step(c.id, T0 + 10_000)).toMatchObject({ changed: 0, more: false, campaign: { state: "expired", finishedAt: T0 + 10_000 } });
        expect((await deliverTo(ids[1]!, T0 + 10_000)).commands).toEqual([]);
        let expired = 0;
        for (let round = 0; round < 20; round++) {
          const r = await apply<AgentExpireCommandsResult>({ kind: "agentExpireCommands", now: T0 + 10_000, limit: 1 });
          expect(r.expired).toBeLessThanOrEqual(1);
          if (r.expired === 0) break;
          expired += r.expired;
        }
        expect(expired).toBeGreaterThanOrEqual(3);
        expect((await commandsOf(c.id)).map((x) => x.state)).toEqual(["expired", "expired", "expired"]);
      });

      it("cancel: no more devices, every open command cancelled; a final campaign keeps its state; unknown is null", async () => {
        const { label, ids } = await labelled(4);
        const c = await start(label);
        await step(c.id, T0 + 200, 3);
        await deliverTo(ids[0]!, T0 + 300);
        const cancelled = await apply<AgentCancelCampaignResult>({ kind: "agentCancelCampaign", campaignId: c.id, now: T0 + 400, reason: "by test" });
        expect(cancelled.campaign).toMatchObject({ state: "cancelled", reason: "by test", finishedAt: T0 + 400, sweeping: true, targeted: 3 });
        expect(await step(c.id, T0 + 500, 2)).toMatchObject({ changed: 2, more: true });
        expect(await step(c.id, T0 + 500, 2)).toMatchObject({ changed: 1, more: false, campaign: { sweeping: false, targeted: 3 } });
        expect((await commandsOf(c.id)).map((x) => x.state)).toEqual(["cancelled", "cancelled", "cancelled"]);
        const again = await apply<AgentCancelCampaignResult>({ kind: "agentCancelCampaign", campaignId: c.id, now: T0 + 600, reason: "again" });
        expect(again.campaign).toMatchObject({ state: "cancelled", reason: "by test", finishedAt: T0 + 400 });
        expect((await apply<AgentCancelCampaignResult>({ kind: "agentCancelCampaign", campaignId: 99_999_999, now: T0, reason: "" })).campaign).toBeNull();
        // Listing, newest first, by state.
        const listed = await store.agent.listCampaigns({ state: "cancelled", limit: 100 });
        expect(listed[0]?.id).toBe(c.id);
        expect(listed.every((x) => x.state === "cancelled")).toBe(true);
        expect((await store.agent.listCampaigns({ beforeId: c.id, limit: 100 })).every((x) => x.id < c.id)).toBe(true);
      });

      it("purge by campaign, state and age, in bounded steps; retention is a purge of every final state by age", async () => {
        const { label, ids } = await labelled(3);
        const c = await start(label);
        await stepUntilDone(c.id, T0 + 200);
        const cmds = await commandsOf(c.id);
        for (const id of ids) await deliverTo(id, T0 + 300);
        await deliverTo(ids[0]!, T0 + 1_000, [{ id: cmds[0]!.id, returnCode: 0, reason: "" }]);
        await deliverTo(ids[1]!, T0 + 2_000, [{ id: cmds[1]!.id, returnCode: 1, reason: "" }]);
        // ids[2] stays open: never purged.
        const purge = (extra: Partial<AgentPurgeCommandsOp>) =>
          apply<AgentPurgeCommandsResult>({ kind: "agentPurgeCommands", states: ["succeeded", "failed", "expired", "cancelled"], campaignId: c.id, limit: 1, ...extra });
        expect(await purge({ states: ["failed"], finishedBefore: T0 + 2_000 })).toEqual({ kind: "agentPurgeCommands", deleted: 0, more: false });
        expect(await purge({ finishedBefore: T0 + 1_500 })).toEqual({ kind: "agentPurgeCommands", deleted: 1, more: false });
        expect((await commandsOf(c.id)).map((x) => x.deviceId)).toEqual(ids.slice(1));
        await apply({ kind: "agentCancelCampaign", campaignId: c.id, now: T0 + 3_000, reason: "x" });
        await stepUntilDone(c.id, T0 + 3_000);
        expect(await purge({})).toEqual({ kind: "agentPurgeCommands", deleted: 1, more: true });
        expect(await purge({})).toEqual({ kind: "agentPurgeCommands", deleted: 1, more: false });
        expect(await commandsOf(c.id)).toEqual([]);
        // Retention across campaigns: a command finished long ago goes, a recent one stays.
        const other = await labelled(2);
        const d = await start(other.label);
        await stepUntilDone(d.id, T0 + 200);
        const dc = await commandsOf(d.id);
        for (const id of other.ids) await deliverTo(id, T0 + 300);
        await deliverTo(other.ids[0]!, T0 + 10_000, [{ id: dc[0]!.id, returnCode: 0, reason: "" }]);
        await deliverTo(other.ids[1]!, T0 + 90_000, [{ id: dc[1]!.id, returnCode: 0, reason: "" }]);
        let deleted = 0;
        for (;;) {
          const r = await apply<AgentPurgeCommandsResult>({ kind: "agentPurgeCommands", states: ["succeeded", "failed", "expired", "cancelled"], finishedBefore: T0 + 50_000, limit: 2 });
          deleted += r.deleted;
          if (!r.more) break;
        }
        expect(deleted).toBeGreaterThanOrEqual(1);
        expect((await commandsOf(d.id)).map((x) => x.deviceId)).toEqual([other.ids[1]]);
      });

      it("all devices: the estimate is bounded (a capped count, then a statistic) and the walk reaches every device registered by the start", async () => {
        const count = await store.agent.countDevices();
        const capped = await start(null, { estimateCap: 2, createdAt: T0 + 10 ** 9, deadline: T0 + 2 * 10 ** 9 });
        expect(capped.estimated).toBeGreaterThanOrEqual(2);
        const c = await start(null, { createdAt: T0 + 10 ** 9, deadline: T0 + 2 * 10 ** 9 });
        expect(c).toMatchObject({ target: "all", label: null, estimated: count });
        await stepUntilDone(c.id, T0 + 10 ** 9, 7);
        expect(await store.agent.getCampaign(c.id)).toMatchObject({ targeted: count, estimated: count, materialised: true });
        for (const id of [capped.id, c.id]) {
          await apply({ kind: "agentCancelCampaign", campaignId: id, now: T0 + 10 ** 9, reason: "done" });
          await stepUntilDone(id, T0 + 10 ** 9);
        }
      });
    });
  });
}
