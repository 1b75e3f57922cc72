// The web console in a real browser: Debian's Chromium (playwright-core) against a
// real server with a seeded, living fleet (test/support/console-fleet.ts), the
// console built by build.mjs as it ships. Each page's screenshot goes to
// docs/console/ (the README links them).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { BrowserContextOptions, Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeviceService } from "../gen/fleetbeat/operator/v1/devices_pb.js";
import { CommandService, CommandState } from "../gen/fleetbeat/operator/v1/commands_pb.js";
import { KeyScope, KeyService } from "../gen/fleetbeat/operator/v1/keys_pb.js";
import { MachineService } from "../gen/fleetbeat/operator/v1/machines_pb.js";
import { ReleaseService } from "../gen/fleetbeat/operator/v1/releases_pb.js";
import { launchChromium, screenshot, type ChromiumSession } from "./support/chromium.js";
import { startConsoleFleet, type ConsoleFleet } from "./support/console-fleet.js";
import { repoRoot } from "./support/process-server.js";

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

const build = (await import(join(repoRoot, "build.mjs"))) as {
  buildConsole: (outdir: string) => Promise<{ firstPageJsGzip: number }>;
};

const escapeText = (text: string) => new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
/** Waits for the first element of `locator` to be visible. */
const visible = (locator: Locator, options: { timeout?: number } = {}) => locator.first().waitFor({ state: "visible", timeout: options.timeout ?? 20_000 });
/** Waits until the element's text matches. */
async function contains(locator: Locator, text: string | RegExp, options: { timeout?: number } = {}): Promise<void> {
  await expect.poll(() => locator.innerText({ timeout: 1_000 }).catch(() => ""), { timeout: options.timeout ?? 20_000 }).toMatch(typeof text === "string" ? escapeText(text) : text);
}
/** Waits until the element's text no longer contains `text`. */
async function lacks(locator: Locator, text: string): Promise<void> {
  await expect.poll(() => locator.innerText({ timeout: 1_000 }).catch(() => ""), { timeout: 20_000 }).not.toContain(text);
}
async function count(locator: Locator, n: number, options: { timeout?: number } = {}): Promise<void> {
  await expect.poll(() => locator.count(), { timeout: options.timeout ?? 20_000 }).toBe(n);
}
async function focused(locator: Locator): Promise<void> {
  await expect.poll(() => locator.evaluate((element) => element === document.activeElement), { timeout: 5_000 }).toBe(true);
}
async function disabled(locator: Locator): Promise<void> {
  expect(await locator.isDisabled()).toBe(true);
}

let fleet: ConsoleFleet;
let chrome: ChromiumSession;
let buildDir: string;
let firstPageJsGzip: number;
/** Every page's Content-Security-Policy reports and uncaught errors: none may happen. */
const pageProblems: string[] = [];

function operator<T extends Parameters<typeof createClient>[0]>(service: T, key = fleet.adminKey) {
  const bearer: Interceptor = (next) => (request) => {
    request.header.set("authorization", `Bearer ${key}`);
    return next(request);
  };
  return createClient(service, createConnectTransport({ baseUrl: fleet.url, httpVersion: "1.1", interceptors: [bearer] }));
}

async function newPage(options: BrowserContextOptions = {}): Promise<Page> {
  const page = await chrome.newPage(options);
  page.on("pageerror", (error) => pageProblems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error" && /Content Security Policy|Refused to/i.test(message.text())) pageProblems.push(message.text());
  });
  return page;
}

async function signIn(page: Page, key: string): Promise<void> {
  await page.goto(`${fleet.url}/`);
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("navigation", { name: "Pages" }).waitFor();
}

async function go(page: Page, name: string): Promise<void> {
  await page.getByRole("navigation", { name: "Pages" }).getByRole("link", { name, exact: true }).click();
  await page.getByRole("heading", { level: 1, name }).waitFor();
}

/** The number a tile on the overview shows (digits only). */
async function tile(page: Page, label: string): Promise<number> {
  const text = await page.locator(".tile", { hasText: label }).locator(".tile-value").innerText();
  return Number(text.replace(/[^0-9]/g, ""));
}

beforeAll(async () => {
  buildDir = await mkdtemp(join(tmpdir(), "fleetbeat-console-browser-"));
  ({ firstPageJsGzip } = await build.buildConsole(join(buildDir, "console")));
  fleet = await startConsoleFleet({ consoleDir: join(buildDir, "console"), liveEvents: { everyMs: 1_000 } });
  chrome = await launchChromium();
}, 180_000);

afterAll(async () => {
  await chrome?.close();
  await fleet?.stop();
  if (buildDir !== undefined) await rm(buildDir, { recursive: true, force: true });
});

describe("the web console in Chromium", { timeout: 120_000 }, () => {
  it("ships a first page of at most 250 KB of gzipped JavaScript", () => {
    expect(firstPageJsGzip).toBeGreaterThan(50_000);
    expect(firstPageJsGzip).toBeLessThanOrEqual(250 * 1024);
  });

  it("leads from / to the sign-in page, and refuses an unknown key saying so", async () => {
    const page = await newPage();
    await page.goto(`${fleet.url}/`);
    expect(new URL(page.url()).pathname).toBe("/console/");
    await focused(page.getByLabel("API key"));
    await page.getByLabel("API key").fill("fbk_not-a-key");
    await page.getByRole("button", { name: "Sign in" }).click();
    await contains(page.getByRole("alert"), /unknown or was revoked/);
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    await screenshot(page, "sign-in");
  });

  it("signs in with an admin key kept in sessionStorage only, and shows the fleet on the overview", async () => {
    const page = await newPage();
    await signIn(page, fleet.adminKey);
    expect(page.url()).not.toContain(fleet.adminKey);
    expect(await page.evaluate(() => Object.values(sessionStorage))).toEqual([fleet.adminKey]);
    expect(await page.evaluate(() => localStorage.length)).toBe(0);
    await page.getByRole("heading", { level: 1, name: "Overview" }).waitFor();
    await expect.poll(() => tile(page, "Devices online"), { timeout: 20_000 }).toBe(fleet.counts.online);
    // counts.offline includes the never-seen devices; the tile does not.
    expect(await tile(page, "Offline")).toBe(fleet.counts.offline - fleet.counts.neverCheckedIn);
    expect(await tile(page, "Never seen")).toBe(fleet.counts.neverCheckedIn);
    // The ingest chart and the versions in the field render from the stats and census APIs.
    await page.locator(".chart canvas").first().waitFor();
    await visible(page.getByRole("table").filter({ hasText: fleet.releases[0]!.version }).first());
    // A time shows relative, with its absolute value (and zone) on hover.
    await screenshot(page, "overview");
    // Reloading keeps the session (the tab's sessionStorage), with no second sign-in.
    await page.reload();
    await page.getByRole("heading", { level: 1, name: "Overview" }).waitFor();
  });

  it("finds a device by name, queues a command, and shows the simulated agent's result without reloading", async () => {
    const agent = fleet.agents[0]!;
    const page = await newPage();
    await signIn(page, fleet.adminKey);
    await go(page, "Devices");
    await count(page.locator("tbody tr"), 50);
    await screenshot(page, "devices");
    await page.getByLabel("Search").fill(agent.devicename);
    await count(page.locator("tbody tr"), 1);
    await page.getByRole("link", { name: agent.devicename, exact: true }).click();
    await page.getByRole("heading", { level: 1, name: agent.devicename }).waitFor();
    expect(new URL(page.url()).pathname).toBe(`/console/devices/${encodeURIComponent(agent.deviceId)}`);

    // A marker on the window survives only if the page is never reloaded.
    await page.evaluate(() => Object.assign(window, { notReloaded: true }));
    await page.getByLabel("Type", { exact: true }).fill("7");
    await page.getByLabel("Content", { exact: true }).fill("uptime --pretty");
    await page.getByRole("button", { name: "Queue command" }).click();
    const status = await page.getByRole("status").filter({ hasText: "queued" }).innerText();
    const id = /Command (\d+) queued/.exec(status)?.[1];
    expect(id).toBeDefined();
    const row = page.locator(`tr[data-command-id="${id}"]`);
    await contains(row, "succeeded", { timeout: 30_000 });
    await contains(row, "exit 0");
    expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
    const { commands } = await operator(CommandService).listCommands({ deviceId: agent.deviceId, pageSize: 10 });
    const recorded = commands.find((c) => String(c.id) === id);
    expect(recorded?.state).toBe(CommandState.SUCCEEDED);
    expect(recorded?.content).toBe("uptime --pretty");
    expect(agent.handled.some((c) => c.id === id)).toBe(true);
    await screenshot(page, "device");
  });

  it("adds and removes a device label", async () => {
    const device = fleet.devices.find((d) => d.status === "offline")!;
    const page = await newPage();
    await signIn(page, fleet.adminKey);
    await page.goto(`${fleet.url}/console/devices/${encodeURIComponent(device.deviceId)}`);
    await page.getByRole("heading", { level: 1, name: device.devicename }).waitFor();
    await page.getByLabel("Add labels").fill("ring:console-test, owner:ops");
    await page.getByRole("button", { name: "Add", exact: true }).click();
    const chips = page.getByRole("list", { name: "Labels" });
    await contains(chips, "ring:console-test");
    await contains(chips, "owner:ops");
    const after = await operator(DeviceService).getDevice({ deviceId: device.deviceId });
    expect(after.device?.labels).toEqual(expect.arrayContaining(["ring:console-test", "owner:ops", ...device.labels]));
    await page.getByRole("button", { name: "Remove label owner:ops" }).click();
    await lacks(chips, "owner:ops");
    expect((await operator(DeviceService).getDevice({ deviceId: device.deviceId })).device?.labels).not.toContain("owner:ops");
    // The label filter on the device list finds it.
    await page.goto(`${fleet.url}/console/devices?label=ring:console-test`);
    await count(page.locator("tbody tr"), 1);
    await contains(page.locator("tbody tr"), device.devicename);
  });

  it("lists commands and the campaign with its progress", async () => {
    const page = await newPage();
    await signIn(page, fleet.adminKey);
    await go(page, "Commands");
    const campaigns = page.getByRole("region", { name: "Campaigns" });
    await contains(campaigns.locator("tbody tr").first(), `label ${fleet.campaign.label}`);
    await page.getByLabel("State").first().selectOption({ label: "failed" });
    await contains(page.getByRole("region", { name: "Commands" }).locator("tbody tr").first(), "failed");
    await screenshot(page, "commands");
  });

  it("renders the census chart of the last 90 days and the release controls", async () => {
    const page = await newPage();
    await signIn(page, fleet.adminKey);
    await go(page, "Releases");
    for (const release of fleet.releases) await visible(page.getByRole("cell", { name: release.version, exact: true }).first());
    const chart = page.locator(".chart").first();
    await chart.locator("canvas").waitFor();
    const box = await chart.locator("canvas").boundingBox();
    expect(box?.width).toBeGreaterThan(600);
    expect(box?.height).toBeGreaterThan(150);
    // The legend names the versions drawn.
    const product = fleet.releases[0]!.product;
    const versions = new Set(fleet.installations.filter((i) => i.product === product && i.versionToday).map((i) => i.versionToday!));
    for (const version of versions) await contains(chart.locator(".u-legend"), version);
    await visible(page.getByRole("button", { name: "New release" }));
    await screenshot(page, "releases");

    // Change a release's rollout: the table follows, and the history names who did it.
    const { key } = await operator(KeyService).getCurrentKey({});
    const row = page.getByRole("table").first().locator("tbody tr", { hasText: fleet.releases[0]!.version }).filter({ hasText: fleet.releases[0]!.channel || "(default)" }).first();
    await row.getByRole("button", { name: "Change" }).click();
    await page.getByLabel("Rollout (%)").fill("60");
    await page.getByRole("button", { name: "Save release" }).click();
    await contains(row, "60 %");
    const history = page.getByRole("region", { name: "History" });
    await contains(history.locator("tbody tr").first(), `${fleet.releases[0]!.version} at 60 %`);
    await contains(history.locator("tbody tr").first(), key!.name);

    // Yank a version and roll back from another, each through its confirmation; the
    // answers count the installations touched; then both are undone.
    const lumen = fleet.installations.filter((i) => i.product === "lumen-desktop" && i.versionToday === "4.3.0").length;
    const controls = page.getByRole("region", { name: "Yanked versions and rollbacks" });
    const form = page.getByRole("form", { name: "Yank or roll back" });
    await form.getByLabel("Product", { exact: true }).fill("lumen-desktop");
    await form.getByLabel("Version (yank) or from (rollback)").fill("4.3.0");
    await form.getByLabel("Roll back to").fill("4.2.0");
    await form.getByRole("button", { name: "Roll back" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Roll back" }).click();
    await contains(controls.getByRole("status"), /Rollback of lumen-desktop 4\.3\.0 → 4\.2\.0 in force; [\d,]+ installations on that version/);
    expect(Number(/; ([\d,]+) installations/.exec(await controls.getByRole("status").innerText())![1]!.replace(/,/g, ""))).toBeGreaterThanOrEqual(lumen);
    await contains(controls.locator("tbody"), "4.3.0 → 4.2.0");
    await form.getByLabel("Version (yank) or from (rollback)").fill("2.9.0");
    await form.getByLabel("Product", { exact: true }).fill("poolarino");
    await form.getByRole("button", { name: "Yank version" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Yank" }).click();
    await contains(controls.getByRole("status"), "Yanked poolarino 2.9.0");
    const listed = await operator(ReleaseService).listReleaseControls({});
    expect(listed.yanked.map((y) => `${y.product} ${y.version}`)).toEqual(["poolarino 2.9.0"]);
    expect(listed.rollbacks.map((r) => `${r.product} ${r.fromVersion}→${r.toVersion}`)).toEqual(["lumen-desktop 4.3.0→4.2.0"]);
    await screenshot(page, "release-controls", { fullPage: true });
    await controls.getByRole("button", { name: "Offer again" }).click();
    await controls.getByRole("button", { name: "Cancel rollback" }).click();
    await count(controls.locator("tbody tr"), 0);
    expect(await operator(ReleaseService).listReleaseControls({})).toMatchObject({ yanked: [], rollbacks: [] });
  });

  it("follows events live and exports a filtered range as a file", async () => {
    const page = await newPage();
    await signIn(page, fleet.adminKey);
    await go(page, "Events");
    await visible(page.locator("tbody tr").first());
    await screenshot(page, "events");

    await page.getByLabel("Follow new events live").check();
    await visible(page.getByRole("status").filter({ hasText: "Following" }), { timeout: 20_000 });
    await visible(page.locator("tbody tr").first(), { timeout: 30_000 });
    await page.getByLabel("Follow new events live").uncheck();

    const eventName = fleet.tracking.eventNames[0]!;
    await page.getByLabel("Event name").fill(eventName);
    await page.getByRole("button", { name: "Apply" }).click();
    await contains(page.locator("tbody tr").first(), eventName);
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Export filtered events" }).click()]);
    expect(download.suggestedFilename()).toMatch(/^fleetbeat-events-.*\.csv$/);
    // The collector's CSV: no header, one event per line, fields separated by 0x01.
    const lines = readFileSync((await download.path())!, "utf8").trim().split("\n");
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line.split("\u0001")).toContain(eventName);
    await contains(page.getByRole("status").filter({ hasText: "Exported" }), `Exported ${lines.length} events`);
  });

  it("finds a machine, and erases it after a confirmation naming what goes", async () => {
    const machine = fleet.installations[0]!.machineId;
    const page = await newPage();
    await signIn(page, fleet.adminKey);
    await go(page, "Machines");
    await page.getByLabel("Machine id").fill(machine);
    await page.getByRole("button", { name: "Find" }).click();
    await visible(page.getByRole("cell", { name: fleet.installations[0]!.product }).first());
    await screenshot(page, "machines");
    await page.getByRole("button", { name: "Erase machine" }).click();
    const dialog = page.getByRole("dialog");
    await contains(dialog, /\d+ raw heartbeats/);
    const erase = dialog.getByRole("button", { name: "Erase for good" });
    await disabled(erase);
    await dialog.getByLabel(/Type .* to confirm/).fill(machine);
    await erase.click();
    await visible(page.getByRole("status").filter({ hasText: "Erased" }));
    const left = await operator(MachineService).exportMachine({ machineId: machine });
    expect(left.installations).toHaveLength(0);
    expect(left.heartbeats).toHaveLength(0);
  });

  it("creates a key shown once, and revokes it", async () => {
    const page = await newPage();
    await signIn(page, fleet.adminKey);
    await go(page, "Keys");
    await page.getByLabel("Name", { exact: true }).fill("browser-made");
    await page.getByLabel("Scope").selectOption({ index: 0 });
    await page.getByRole("button", { name: "Create key" }).click();
    const secret = (await page.getByTestId("new-key-secret").innerText()).trim();
    expect(secret.length).toBeGreaterThan(20);
    await visible(page.getByRole("button", { name: "Copy" }));
    const made = await operator(KeyService, secret).getCurrentKey({});
    expect(made.key?.name).toBe("browser-made");
    expect(made.key?.scope).toBe(KeyScope.READ);
    await visible(page.getByRole("cell", { name: "browser-made" }));
    await screenshot(page, "keys");
    await page.getByRole("button", { name: "Done" }).click();
    await count(page.getByTestId("new-key-secret"), 0);

    await page.getByRole("button", { name: "Revoke browser-made" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Revoke key" }).click();
    await count(page.getByRole("button", { name: "Revoke browser-made" }), 0);
    await expect(operator(KeyService, secret).getCurrentKey({})).rejects.toThrow(/unknown or revoked/);
  });

  it("shows a read key everything but no write control", async () => {
    const page = await newPage();
    await signIn(page, fleet.readKey);
    await contains(page.getByRole("banner"), "read only");
    const agent = fleet.agents[1]!;
    await page.goto(`${fleet.url}/console/devices/${encodeURIComponent(agent.deviceId)}`);
    await page.getByRole("heading", { level: 1, name: agent.devicename }).waitFor();
    await visible(page.getByRole("heading", { name: "Commands" }));
    for (const control of ["Queue command", "Delete device", "Add"]) await count(page.getByRole("button", { name: control, exact: true }), 0);
    await count(page.getByRole("button", { name: /^Remove label/ }), 0);
    await screenshot(page, "device-read-only");
    await go(page, "Releases");
    await visible(page.getByRole("cell", { name: fleet.releases[0]!.version, exact: true }).first());
    for (const control of ["New release", "Change", "Delete", "Yank version", "Roll back"]) await count(page.getByRole("button", { name: control, exact: true }), 0);
    await go(page, "Commands");
    await visible(page.getByRole("region", { name: "Commands" }).locator("tbody tr").first());
    await count(page.getByRole("button", { name: /Cancel/ }), 0);
    await count(page.getByRole("checkbox"), 0);
    await go(page, "Machines");
    await page.getByLabel("Machine id").fill(fleet.installations[1]!.machineId);
    await page.getByRole("button", { name: "Find" }).click();
    await visible(page.getByRole("button", { name: "Download everything (JSON)" }));
    await count(page.getByRole("button", { name: "Erase machine" }), 0);
    await go(page, "Keys");
    await contains(page.getByRole("main"), "a read key");
    await count(page.getByRole("button", { name: "Create key" }), 0);
  });

  it("sends a signed-in console whose key was revoked back to sign-in, saying why", async () => {
    const admin = operator(KeyService);
    const { key, secret } = await admin.createKey({ name: "revoked-while-open", scope: KeyScope.ADMIN });
    const page = await newPage();
    await signIn(page, secret);
    await page.getByRole("heading", { level: 1, name: "Overview" }).waitFor();
    await admin.revokeKey({ id: key!.id });
    // The overview refreshes its figures every 5 s; the next refresh is refused.
    await contains(page.getByRole("alert"), /unknown or was revoked/, { timeout: 30_000 });
    await visible(page.getByLabel("API key"));
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
  });

  it("works with the keyboard alone", async () => {
    const page = await newPage();
    await page.goto(`${fleet.url}/console/`);
    await focused(page.getByLabel("API key"));
    await page.keyboard.type(fleet.adminKey);
    await page.keyboard.press("Enter");
    await page.getByRole("navigation", { name: "Pages" }).waitFor();
    // Tab from the top reaches the skip link first, then the pages.
    await page.keyboard.press("Tab");
    await focused(page.getByRole("link", { name: "Skip to content" }));
    let reached = false;
    for (let i = 0; i < 10 && !reached; i++) {
      await page.keyboard.press("Tab");
      reached = (await page.evaluate(() => document.activeElement?.textContent)) === "Devices";
    }
    expect(reached).toBe(true);
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { level: 1, name: "Devices" }).waitFor();
    // A confirmation dialog opens with the keyboard and Escape cancels it.
    await page.goto(`${fleet.url}/console/keys`);
    await page.getByRole("button", { name: /^Revoke / }).first().focus();
    await page.keyboard.press("Enter");
    await visible(page.getByRole("dialog"));
    await page.keyboard.press("Escape");
    await count(page.getByRole("dialog"), 0);
  });

  it("is readable on a phone-sized window: nothing wider than the screen", async () => {
    const page = await newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    await signIn(page, fleet.adminKey);
    await page.getByRole("heading", { level: 1, name: "Overview" }).waitFor();
    await page.locator(".chart canvas").first().waitFor();
    const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(await overflow()).toBeLessThanOrEqual(0);
    await screenshot(page, "overview-phone", { fullPage: true });
    await go(page, "Devices");
    await visible(page.locator("tbody tr").first());
    expect(await overflow()).toBeLessThanOrEqual(0);
    await screenshot(page, "devices-phone");
  });

  it("passes axe-core's WCAG 2.1 A/AA checks on every page (nothing serious or critical)", async () => {
    // axe is injected as a script, which the console's own policy rightly forbids: this
    // one context bypasses CSP (the test above proves the policy holds without it).
    const page = await newPage({ bypassCSP: true });
    await signIn(page, fleet.adminKey);
    const findings: string[] = [];
    const check = async (where: string) => {
      await page.addScriptTag({ content: axeSource });
      const result = (await page.evaluate(() =>
        (window as unknown as { axe: { run: (context: Document, options: object) => Promise<unknown> } }).axe.run(document, {
          runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
        }),
      )) as { passes: unknown[]; violations: Array<{ id: string; impact: string | null; help: string; nodes: Array<{ target: unknown }> }> };
      // axe really looked: a page of this kind passes dozens of its rules.
      expect(result.passes.length, where).toBeGreaterThan(10);
      for (const v of result.violations) {
        if (v.impact === "serious" || v.impact === "critical") findings.push(`${where}: ${v.id} (${v.impact}) ${v.help}: ${v.nodes.slice(0, 3).map((n) => JSON.stringify(n.target)).join(" ")}`);
      }
    };
    await page.locator(".chart canvas").first().waitFor();
    await check("overview");
    for (const name of ["Devices", "Commands", "Releases", "Events", "Machines", "Keys"]) {
      await go(page, name);
      await page.waitForLoadState("networkidle").catch(() => undefined);
      await page.waitForTimeout(500);
      await check(name);
    }
    await page.goto(`${fleet.url}/console/devices/${encodeURIComponent(fleet.agents[2]!.deviceId)}`);
    await page.getByRole("heading", { level: 1, name: fleet.agents[2]!.devicename }).waitFor();
    await check("device");
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("API key").waitFor();
    await check("sign-in");
    expect(findings).toEqual([]);
  });

  it("raised no Content-Security-Policy report and no uncaught error on any page", () => {
    expect(pageProblems).toEqual([]);
  });
});
