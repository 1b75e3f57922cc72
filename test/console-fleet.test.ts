// The console's browser-test fixture (test/support/console-fleet.ts) holds what it
// promises, read back through the operator API as the console will read it; and
// Chromium (test/support/chromium.ts) starts here and loads a page of the server.
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OperatorClient } from "../clients/operator/client.js";
import { CampaignState, CommandState } from "../gen/fleetbeat/operator/v1/commands_pb.js";
import { OnlineFilter } from "../gen/fleetbeat/operator/v1/devices_pb.js";
import { launchChromium, screenshot } from "./support/chromium.js";
import { startConsoleFleet, type ConsoleFleet } from "./support/console-fleet.js";

let fleet: ConsoleFleet;
let reader: OperatorClient;
let admin: OperatorClient;

beforeAll(async () => {
  fleet = await startConsoleFleet();
  reader = new OperatorClient({ server: fleet.url, key: fleet.readKey });
  admin = new OperatorClient({ server: fleet.url, key: fleet.adminKey });
}, 120_000);

afterAll(async () => {
  reader?.close();
  admin?.close();
  await fleet?.stop();
});

async function all<T>(items: AsyncIterable<T>): Promise<T[]> {
  const list: T[] = [];
  for await (const item of items) list.push(item);
  return list;
}

describe("the seeded fleet", () => {
  it("has 300 devices: 200 online, 100 offline, 10 of those never heard from after registering", async () => {
    expect(fleet.counts).toMatchObject({ devices: 300, online: 200, offline: 100, neverCheckedIn: 10 });
    const stats = await reader.stats.getStats({});
    expect(stats.devices).toBe(300n);
    expect(stats.devicesOnline).toBe(200n);
    expect(stats.devicesNeverSeen).toBe(10n);

    const online = await all(reader.listDevices({ online: OnlineFilter.ONLINE }));
    const offline = await all(reader.listDevices({ online: OnlineFilter.OFFLINE }));
    const status = new Map(fleet.devices.map((d) => [d.deviceId, d.status]));
    expect(online.map((d) => status.get(d.deviceId)).every((s) => s === "online")).toBe(true);
    expect(online).toHaveLength(200);
    expect(offline).toHaveLength(100);
    const never = offline.filter((d) => d.lastSeen && d.registeredAt && d.lastSeen.seconds === d.registeredAt.seconds && d.lastSeen.nanos === d.registeredAt.nanos);
    expect(never.map((d) => status.get(d.deviceId))).toEqual(Array(10).fill("never-checked-in"));

    // Last check-ins of the offline devices lie in the past as planned: 25 minutes to about two months ago.
    const lastSeen = offline.map((d) => Number(d.lastSeen!.seconds) * 1000);
    expect(Math.max(...lastSeen)).toBeLessThan(Date.now() - 20 * 60_000);
    expect(Math.min(...lastSeen)).toBeLessThan(Date.now() - 30 * 86_400_000);
  });

  it("names, OSes and labels are the fixed ones", async () => {
    const [device] = await all(reader.listDevices({ query: "lab-mac-001" }));
    expect(device).toMatchObject({ devicename: "lab-mac-001", online: true });
    expect(device!.labels).toEqual(expect.arrayContaining(["ring:canary", "role:lab"]));
    expect(device!.labels.some((label) => label.startsWith("site:"))).toBe(true);
    expect((await all(reader.listDevices({ label: "site:berlin" }))).length).toBeGreaterThan(50);
    expect(await all(reader.listDevices({ label: "ring:canary" }))).toHaveLength(30);
    expect(new Set(fleet.devices.map((d) => d.os)).size).toBeGreaterThanOrEqual(8);
    expect(fleet.agents.map((a) => a.devicename)).toEqual([
      "lab-mac-001", "lab-mac-002", "store-pos-001", "store-pos-002", "kiosk-001", "kiosk-002",
      "build-linux-001", "build-linux-002", "field-rpi-001", "field-rpi-002",
    ]);
  });

  it("a command queued to a simulated agent is answered within a few seconds", async () => {
    const agent = fleet.agents.find((a) => a.devicename === "kiosk-002")!;
    const started = Date.now();
    const [command] = await admin.queueCommand({ target: { case: "deviceId", value: agent.deviceId }, type: 7, content: "hello from the test" });
    const [final] = await all(admin.waitCommands([command!.id], 10_000));
    expect(final).toMatchObject({ state: CommandState.SUCCEEDED, returnCode: 0, reason: "type 7 done: hello from the test" });
    expect(Date.now() - started).toBeLessThan(8_000);
    expect(agent.handled.map((h) => h.id)).toContain(String(command!.id));
  });

  it("holds commands in every state, and a campaign on ring:canary", async () => {
    const states = new Map((await all(reader.listCommands({}))).map((c) => [c.id, c.state]));
    const expected: Array<[keyof ConsoleFleet["commands"], CommandState]> = [
      ["succeeded", CommandState.SUCCEEDED],
      ["failed", CommandState.FAILED],
      ["queued", CommandState.QUEUED],
      ["delivered", CommandState.DELIVERED],
      ["expired", CommandState.EXPIRED],
      ["cancelled", CommandState.CANCELLED],
    ];
    for (const [name, state] of expected) {
      expect(fleet.commands[name].length, name).toBeGreaterThan(0);
      for (const id of fleet.commands[name]) expect(states.get(id), `${name} ${id}`).toBe(state);
    }

    const { campaign } = await reader.commands.getCampaign({ id: fleet.campaign.id });
    expect(campaign).toMatchObject({ state: CampaignState.RUNNING, target: { target: { case: "label", value: "ring:canary" } } });
    // The five canaries among the 500 ms agents answer at once; the offline ones keep theirs queued.
    await expect.poll(async () => (await reader.commands.getCampaign({ id: fleet.campaign.id })).campaign!.succeeded, { timeout: 10_000 }).toBeGreaterThanOrEqual(5n);
    expect((await reader.commands.getCampaign({ id: fleet.campaign.id })).campaign!.targeted).toBe(30n);
  });

  it("has 90 days of census with two products, several versions, and the releases", async () => {
    const { days } = await reader.census.getCensusSeries({ days: 90 });
    expect(days).toHaveLength(90);
    expect(days.every((day) => day.installations > 0n)).toBe(true);
    const versions = new Set(days.flatMap((day) => day.byVersion.map((b) => b.key)));
    expect([...versions].sort()).toEqual(["2.10.0", "2.10.1", "2.8.0", "2.9.0", "4.1.0", "4.2.0", "4.3.0"]);
    // The fleet grew over the window.
    expect(days[89]!.installations).toBeGreaterThan(days[0]!.installations);

    // The last 24 hours: every installation that reported today, and some that reported yesterday only.
    const census = await reader.census.getCensus({});
    expect(census.installations).toBeGreaterThanOrEqual(BigInt(fleet.counts.installationsToday));
    expect(census.installations).toBeLessThanOrEqual(300n);
    expect(census.machines).toBeLessThan(census.installations);
    for (const product of ["poolarino", "lumen-desktop"]) {
      expect((await reader.census.getCensusSeries({ product })).days.every((day) => day.installations > 0n), product).toBe(true);
    }

    const { releases } = await reader.releases.listReleases({});
    expect(releases.map((r) => `${r.product}/${r.channel} ${r.version} ${r.rolloutPercent}% (was ${r.previousVersion})`)).toEqual([
      "lumen-desktop/beta 4.3.0 100% (was 4.2.0)",
      "lumen-desktop/nightly 4.3.0 100% (was 4.2.0)",
      "lumen-desktop/stable 4.3.0 25% (was 4.2.0)",
      "poolarino/beta 2.10.1 100% (was 2.10.0)",
      "poolarino/stable 2.10.1 50% (was 2.10.0)",
    ]);
  });

  it("has a few thousand tracking events of three clients, crashes and sync errors among them", async () => {
    expect(fleet.tracking.events).toBeGreaterThan(2_000);
    const stats = await reader.stats.getStats({});
    expect(stats.events).toBe(BigInt(fleet.tracking.events));
    for (const event of ["App.Crash", "Sync.Error"]) expect((await all(reader.listEvents({ event }, 5))).length, event).toBeGreaterThan(0);
    for (const clientId of fleet.tracking.clientIds) expect(await all(reader.listEvents({ clientId }, 1)), clientId).toHaveLength(1);
    expect(fleet.tracking.clientIds).toEqual(["poolarino-app", "lumen-desktop", "lumen-ios"]);
  });
});

describe("chromium", () => {
  it("starts and loads a page of the fleet's server", async () => {
    const chrome = await launchChromium();
    const shots = await mkdtemp(join(tmpdir(), "fleetbeat-shots-"));
    try {
      const page = await chrome.newPage();
      const response = await page.goto(`${fleet.url}/api/health`);
      expect(response?.status()).toBe(200);
      expect(JSON.parse(await page.innerText("body"))).toEqual({ up: true });
      expect(page.viewportSize()).toEqual({ width: 1280, height: 800 });
      const file = await screenshot(page, "health", { dir: shots });
      expect((await stat(file)).size).toBeGreaterThan(100);
    } finally {
      await chrome.close();
      await rm(shots, { recursive: true, force: true });
    }
  });
});
