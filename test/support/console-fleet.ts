// A seeded, living fleet for the web console's browser tests and for trying the
// console by hand (console-demo.ts): a real server on loopback, on a fresh SQLite
// file in a temporary folder, filled through the real clients and public paths.
//
//   startConsoleFleet() → { url, adminKey, readKey, devices, agents, …, stop() }
//
// What it holds (fixed names; the same fleet on every start):
// - 300 DI devices in five families (lab-mac-001…040, store-pos-001…080,
//   kiosk-001…060, build-linux-001…040, field-rpi-001…080), labelled site:<city>,
//   ring:<canary|early|broad> and role:<…>, registered through the agent library
//   (clients/agent) at times spread over the last months: 200 online, 90 offline
//   (last check-in 25 minutes to 60 days ago), 10 that never checked in after
//   registering (last seen = registered, days ago).
// - Every online device runs the agent library's Agent in this process: 10
//   simulated agents (the -001 and -002 of each family) check in every 500 ms, the
//   other 190 every 60 s ± 15 s (so they stay online, and a campaign progresses).
//   Every agent answers every command type: return code 0 with some output, or 1
//   when the content contains the word "fail".
// - 300 update-heartbeat installations of two products (poolarino, lumen-desktop),
//   five channels and seven versions, with 90 days of daily history, and the
//   releases set through ReleaseService.SetRelease on the days they came out.
// - About three thousand tracking events (3,025) of three client ids over the
//   last seven days, sent by the real ClientTracker (36 devices, one session each).
// - Commands in each state (succeeded, failed, queued, delivered, expired,
//   cancelled) and one campaign (label ring:canary).
//
// How the past is made: the server runs in this process with an injected clock
// (StartServerOptions.now). Seeding walks a timeline of actions oldest first,
// setting the clock to each action's time before it runs (registrations,
// check-ins, releases, past commands, tracking flushes, today's heartbeats), then
// sets the clock back to real time before the agents start. So registered_at,
// last_seen, received_at, release times and command times are those of the
// story, and every one of them went through the public paths. Actions of one
// moment run side by side, the moments one after the other: a day's registrations
// are one enrolment round (one moment), and so are the last check-ins of the
// offline devices last heard of on the same day (those of the last 24 hours have
// moments of their own); about 170 moments in all. The one exception is the census
// history: its 89 past days (about 20,000 heartbeats) are written as the
// heartbeat slice's own write operation (`recordHeartbeats`, what HeartbeatService
// submits for each group of requests) straight to the running server's batcher,
// with receivedAt on those days. Over HTTP they took ~15 s on this machine (about
// 1,300 heartbeats a second with client and server in one process); the operation
// takes a fraction of a second and writes the same rows (installations, daily
// rollup, raw rows of the last 30 days). Today's heartbeats come from the real
// HeartbeatClient (legacy POST /hb/newHb for poolarino, Connect for lumen-desktop).
//
// The server answers agents an interval of 0 (config agent.intervalSeconds), so
// each Agent keeps its own (500 ms or 60 s); online is then "last seen within
// agent.onlineGraceMs" = 2 minutes, the same window as the defaults' 60 s + 60 s.
// "Never checked in" cannot mean last_seen NULL: registration stamps last_seen,
// and no public path clears it; these devices registered once and were never heard
// of again.
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent, type AgentState, type CommandHandler, type CommandResult, type DeviceInfo, LegacyAgentClient, type ServerCommand } from "../../clients/agent/index.js";
import { HeartbeatClient } from "../../clients/heartbeat/index.js";
import { OperatorClient } from "../../clients/operator/client.js";
import { ClientTracker, MemoryStorage } from "../../clients/tracker/index.js";
import { CommandState } from "../../gen/fleetbeat/operator/v1/commands_pb.js";
import { startServer, type RunningServer } from "../../server/app.js";
import { configWith, defaultConfig, type ServerConfig } from "../../server/core/config.js";
import { createOperatorKey } from "../../server/operator/keys.js";
import type { HeartbeatRow } from "../../server/store/heartbeat.js";
import { prng } from "./prng.js";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export interface ConsoleFleetOptions {
  /** Folder of the built console for the server to serve (`--console-dir`); forwarded as config `consoleDir`. */
  consoleDir?: string;
  /** More server settings over the fixture's (e.g. corsOrigins for a console on another origin); shallow: a nested object (agent, track) replaces the fixture's. */
  config?: Partial<ServerConfig>;
  /** Default 0: a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** The server's log level; default "silent". */
  logLevel?: string;
  /** One line per seeding step, e.g. console.error. */
  progress?: (line: string) => void;
  /**
   * Keep sending tracking events after seeding: every `everyMs` (default 2 s) one
   * of the trackers sends 1–3 events, so a live event view or a per-minute chart
   * has something arriving. Off by default (tests count events).
   */
  liveEvents?: boolean | { everyMs?: number };
}

export type DeviceStatus = "online" | "offline" | "never-checked-in";

export interface FleetDevice {
  deviceId: string;
  devicename: string;
  os: string;
  ip: string;
  macaddress: string;
  /** site:<berlin|lisbon|porto|remote>, ring:<canary|early|broad>, role:<lab|pos|kiosk|build|sensor>. */
  labels: string[];
  status: DeviceStatus;
  /** One of the 500 ms simulated agents. */
  simulated: boolean;
  /** Epoch ms of the first registration. */
  registeredAt: number;
  /** Epoch ms of the last check-in for offline devices (= registeredAt for never-checked-in); undefined for online ones (they keep checking in). */
  lastSeenAt?: number;
}

export interface HandledCommand {
  id: string;
  type: number;
  content: string;
  returnCode: number;
  reason: string;
  at: number;
}

export interface SimulatedAgent {
  deviceId: string;
  devicename: string;
  /** The agent library's counters (registrations, heartbeats, updates, commandsRun). */
  readonly stats: Agent["stats"];
  /** Commands this agent ran, oldest first (the last 100). */
  readonly handled: readonly HandledCommand[];
}

export interface FleetInstallation {
  product: string;
  channel: string;
  machineId: string;
  hbId: string;
  osType: string;
  osVersion: string;
  /** Version reported today, when it sent a heartbeat today. */
  versionToday: string | undefined;
}

export interface FleetRelease {
  product: string;
  channel: string;
  version: string;
  rolloutPercent: number;
}

export interface FleetCommands {
  succeeded: bigint[];
  failed: bigint[];
  queued: bigint[];
  delivered: bigint[];
  expired: bigint[];
  cancelled: bigint[];
}

export interface ConsoleFleet {
  /** Base URL of the server, e.g. "http://127.0.0.1:41234". */
  url: string;
  /** Operator keys (Authorization: Bearer …). */
  adminKey: string;
  readKey: string;
  /** Every DI device, in a fixed order (families as listed above, numbers ascending). */
  devices: FleetDevice[];
  /** The 500 ms simulated agents (a subset of the online devices). */
  agents: SimulatedAgent[];
  installations: FleetInstallation[];
  /** The releases as they stand now. */
  releases: FleetRelease[];
  tracking: {
    /** The global shared secret (X-Hamustro-Signature) of the tracking collector. */
    secret: string;
    clientIds: string[];
    eventNames: string[];
    /** Events stored by the seeding (liveEvents adds more afterwards). */
    events: number;
  };
  commands: FleetCommands;
  campaign: { id: bigint; label: string };
  /** offline counts every device not online, the never-checked-in ones included (as ListDevices' offline filter does). */
  counts: { devices: number; online: number; offline: number; neverCheckedIn: number; installations: number; installationsToday: number; events: number };
  /** Milliseconds per seeding step, and `total`. */
  timings: Record<string, number>;
  /** The in-process server (its store and batcher), for tests that need more. */
  server: RunningServer;
  /** The temporary folder (database, agent config files, heartbeat state files); removed by stop(). */
  root: string;
  /** Stops every agent and the server, then removes the temporary folder. Idempotent. */
  stop(): Promise<void>;
}

// ---------------------------------------------------------------------------
// The plan: pure functions of fixed names (no randomness but seeded hashes).

/** FNV-1a, 32 bits: a stable number per text. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function hexOf(text: string, length: number): string {
  return createHash("sha256").update(text).digest("hex").slice(0, length);
}

/** A UUIDv4-shaped id derived from a name. */
function uuidOf(name: string): string {
  const h = hexOf(name, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const pad3 = (n: number) => String(n).padStart(3, "0");
const pick = <T>(list: readonly T[], n: number): T => list[n % list.length]!;

const deviceFamilies = [
  { prefix: "lab-mac", count: 40, role: "role:lab", os: ["macOS 14.6.1", "macOS 15.1", "macOS 13.7"] },
  { prefix: "store-pos", count: 80, role: "role:pos", os: ["Windows 10 IoT Enterprise LTSC 2021", "Windows 11 Pro 23H2"] },
  { prefix: "kiosk", count: 60, role: "role:kiosk", os: ["Ubuntu 22.04.4 LTS", "Ubuntu 24.04.1 LTS"] },
  { prefix: "build-linux", count: 40, role: "role:build", os: ["Debian GNU/Linux 12 (bookworm)"] },
  { prefix: "field-rpi", count: 80, role: "role:sensor", os: ["Raspberry Pi OS 12 (bookworm)", "Raspbian GNU/Linux 11 (bullseye)"] },
] as const;

const sites = ["site:berlin", "site:lisbon", "site:porto", "site:remote"] as const;
/** When offline devices were last heard of, for the first ten of them; the rest 1–60 days ago. */
const recentOfflineAgoMs = [25 * MINUTE, 40 * MINUTE, 90 * MINUTE, 2 * HOUR, 3 * HOUR, 5 * HOUR, 8 * HOUR, 12 * HOUR, 18 * HOUR, 22 * HOUR];

export interface DevicePlan extends Omit<FleetDevice, "registeredAt" | "lastSeenAt"> {
  /** The UTC day (days ago) of the first registration; every device of a day registered at the same moment (an enrolment round). */
  registeredDaysAgo: number;
  /** Offline devices: how long before now they last checked in (the first ten), … */
  lastSeenAgoMs?: number;
  /** … or the UTC day (days ago) of their last check-in, in that day's round of last check-ins (the rest). */
  lastSeenDaysAgo?: number;
}

/** The 300 DI devices. Status by position: every 30th from the 8th never checked in, positions ending in 3, 6, 9 are offline. */
export function planDevices(): DevicePlan[] {
  const plans: DevicePlan[] = [];
  let offlineSeen = 0;
  deviceFamilies.forEach((family, familyIndex) => {
    for (let n = 1; n <= family.count; n++) {
      const i = plans.length;
      const devicename = `${family.prefix}-${pad3(n)}`;
      const h = hash(devicename);
      const siteRoll = h % 100;
      const siteIndex = siteRoll < 35 ? 0 : siteRoll < 65 ? 1 : siteRoll < 85 ? 2 : 3;
      const ringSlot = i % 20;
      const ring = ringSlot === 0 || ringSlot === 3 ? "ring:canary" : [1, 2, 4, 5].includes(ringSlot) ? "ring:early" : "ring:broad";
      const status: DeviceStatus = i % 30 === 7 ? "never-checked-in" : [3, 6, 9].includes(i % 10) ? "offline" : "online";
      const plan: DevicePlan = {
        deviceId: hexOf(`console-fleet:${devicename}`, 32),
        devicename,
        os: pick(family.os, h >>> 8),
        ip: `10.${10 + siteIndex}.${familyIndex}.${n}`,
        macaddress: `02:fb:${[familyIndex, n >> 8, n & 255, siteIndex].map((b) => b.toString(16).padStart(2, "0")).join(":")}`,
        labels: [sites[siteIndex]!, ring, family.role],
        status,
        simulated: n <= 2,
        registeredDaysAgo: 1 + (h % 89),
      };
      if (status === "offline") {
        const k = offlineSeen++;
        let lastSeenDays: number;
        if (k < recentOfflineAgoMs.length) {
          plan.lastSeenAgoMs = recentOfflineAgoMs[k]!;
          lastSeenDays = Math.ceil(plan.lastSeenAgoMs / DAY);
        } else lastSeenDays = plan.lastSeenDaysAgo = 1 + (h % 60);
        plan.registeredDaysAgo = lastSeenDays + 3 + ((h >>> 4) % 50);
      } else if (status === "never-checked-in") {
        plan.registeredDaysAgo = 2 + (h % 39);
      }
      plans.push(plan);
    }
  });
  return plans;
}

interface ReleaseStep {
  daysAgo: number;
  version: string;
  rolloutPercent: number;
}

/** Per product and channel, oldest first. The first of each is set on the first day of the window. */
export const releaseTimeline: Record<string, Record<string, ReleaseStep[]>> = {
  poolarino: {
    stable: [
      { daysAgo: 89, version: "2.8.0", rolloutPercent: 100 },
      { daysAgo: 58, version: "2.9.0", rolloutPercent: 100 },
      { daysAgo: 24, version: "2.10.0", rolloutPercent: 100 },
      { daysAgo: 6, version: "2.10.1", rolloutPercent: 50 },
    ],
    beta: [
      { daysAgo: 89, version: "2.9.0", rolloutPercent: 100 },
      { daysAgo: 30, version: "2.10.0", rolloutPercent: 100 },
      { daysAgo: 9, version: "2.10.1", rolloutPercent: 100 },
    ],
  },
  "lumen-desktop": {
    stable: [
      { daysAgo: 89, version: "4.1.0", rolloutPercent: 100 },
      { daysAgo: 47, version: "4.2.0", rolloutPercent: 100 },
      { daysAgo: 12, version: "4.3.0", rolloutPercent: 25 },
    ],
    beta: [
      { daysAgo: 89, version: "4.2.0", rolloutPercent: 100 },
      { daysAgo: 20, version: "4.3.0", rolloutPercent: 100 },
    ],
    nightly: [
      { daysAgo: 89, version: "4.2.0", rolloutPercent: 100 },
      { daysAgo: 33, version: "4.3.0", rolloutPercent: 100 },
    ],
  },
};

interface InstallationProduct {
  product: string;
  count: number;
  channels: ReadonlyArray<readonly [string, number]>;
  /** osType, osVersion. */
  os: ReadonlyArray<readonly [string, string]>;
  /** How today's heartbeats travel: the seed's POST /hb/newHb, or Connect. */
  protocol: "legacy" | "connect";
}

const installationProducts: InstallationProduct[] = [
  {
    product: "poolarino",
    count: 150,
    channels: [["stable", 120], ["beta", 30]],
    os: [["Linux", "5.10.17-v7l+"], ["Linux", "6.1.21-v8+"], ["Linux", "6.6.31+rpt-rpi-v8"]],
    protocol: "legacy",
  },
  {
    product: "lumen-desktop",
    count: 150,
    channels: [["stable", 100], ["beta", 35], ["nightly", 15]],
    os: [["Darwin", "23.6.0"], ["Darwin", "24.1.0"], ["Windows_NT", "10.0.22631"], ["Windows_NT", "10.0.19045"], ["Linux", "6.8.0-45-generic"]],
    protocol: "connect",
  },
];

/** First day of the census window (days ago); installations that started earlier report from here. */
const HISTORY_DAYS = 89;
/** poolarino installations 138–149 are reinstalls on the machines of 0–11, which stopped reporting; lumen-desktop nightly installations share the machines of the first stable ones. */
const REINSTALLS = 12;

export interface InstallationPlan {
  product: string;
  channel: string;
  machineId: string;
  hbId: string;
  osType: string;
  osVersion: string;
  protocol: "legacy" | "connect";
  /** First day it reports (days ago). */
  startAgo: number;
  /** Last day it reports (days ago); undefined while it still does. */
  endAgo: number | undefined;
  /** Never upgrades. */
  stuck: boolean;
  /** Days between a release and its upgrade. */
  lag: number;
  /** Desktop apps are often off at weekends. */
  weekendDip: boolean;
}

export function planInstallations(): InstallationPlan[] {
  const plans: InstallationPlan[] = [];
  for (const p of installationProducts) {
    const channels = p.channels.flatMap(([channel, count]) => Array.from({ length: count }, () => channel));
    for (let i = 0; i < p.count; i++) {
      const name = `${p.product}:${i}`;
      const h = hash(name);
      const [osType, osVersion] = pick(p.os, h >>> 3);
      const plan: InstallationPlan = {
        product: p.product,
        channel: channels[i]!,
        machineId: p.product === "poolarino" ? `10000000${hexOf(`serial:${name}`, 8)}` : uuidOf(`machine:${name}`),
        hbId: uuidOf(`hb:${name}`),
        osType,
        osVersion,
        protocol: p.protocol,
        startAgo: h % 100 < 55 ? HISTORY_DAYS : h % HISTORY_DAYS,
        endAgo: undefined,
        stuck: (h >>> 7) % 100 < 7,
        lag: (h >>> 11) % 7,
        weekendDip: p.product === "lumen-desktop",
      };
      if ((h >>> 16) % 100 >= 95 && plan.startAgo > 3) plan.endAgo = 1 + ((h >>> 5) % (plan.startAgo - 2));
      plans.push(plan);
    }
  }
  // Reinstalls: the old installation stops, a new one on the same machine starts the day after.
  for (let k = 0; k < REINSTALLS; k++) {
    const old = plans[k]!;
    const fresh = plans[installationProducts[0]!.count - REINSTALLS + k]!;
    old.startAgo = HISTORY_DAYS;
    old.endAgo = 10 + 5 * k;
    fresh.machineId = old.machineId;
    fresh.channel = old.channel;
    fresh.startAgo = old.endAgo - 1;
    fresh.endAgo = undefined;
  }
  // lumen-desktop nightly runs beside stable on the same machines (a machine with two installations).
  const lumen = plans.filter((p) => p.product === "lumen-desktop");
  const stable = lumen.filter((p) => p.channel === "stable");
  lumen
    .filter((p) => p.channel === "nightly")
    .forEach((nightly, k) => {
      const beside = stable[k]!;
      Object.assign(nightly, { machineId: beside.machineId, osType: beside.osType, osVersion: beside.osVersion });
    });
  return plans;
}

function inRollout(plan: InstallationPlan, step: ReleaseStep): boolean {
  return step.rolloutPercent >= 100 || hash(`${plan.hbId}:${step.version}`) % 100 < step.rolloutPercent;
}

/** The version an installation reports on a day (days ago). */
export function versionOn(plan: InstallationPlan, daysAgo: number): string {
  const steps = releaseTimeline[plan.product]![plan.channel]!;
  let version = steps[0]!.version;
  for (const step of steps) {
    const releasedBeforeStart = step.daysAgo >= plan.startAgo;
    if (!inRollout(plan, step)) continue;
    if (releasedBeforeStart || (!plan.stuck && step.daysAgo - plan.lag >= daysAgo)) version = step.version;
  }
  return version;
}

function reportsOn(plan: InstallationPlan, daysAgo: number, dayStart: number): boolean {
  if (daysAgo > plan.startAgo) return false;
  if (plan.endAgo !== undefined && daysAgo < plan.endAgo) return false;
  const weekday = new Date(dayStart).getUTCDay();
  if (plan.weekendDip && (weekday === 0 || weekday === 6) && hash(`${plan.hbId}:${daysAgo}`) % 100 < 60) return false;
  return true;
}

interface TrackerClient {
  clientId: string;
  system: string;
  systemVersions: readonly string[];
  productVersions: readonly string[];
  /** Event names with weights. */
  events: ReadonlyArray<readonly [string, number]>;
  userIds: boolean;
}

const trackerClients: TrackerClient[] = [
  {
    clientId: "poolarino-app",
    system: "Linux",
    systemVersions: ["5.10.17-v7l+", "6.1.21-v8+"],
    productVersions: ["2.9.0", "2.10.0", "2.10.1"],
    events: [["App.Start", 1], ["Pool.TempRead", 5], ["Pool.PumpOn", 2], ["Pool.PumpOff", 2], ["Update.Check", 1], ["Sync.Error", 0.3], ["App.Crash", 0.12]],
    userIds: false,
  },
  {
    clientId: "lumen-desktop",
    system: "macOS",
    systemVersions: ["14.6.1", "15.1"],
    productVersions: ["4.2.0", "4.3.0"],
    events: [["App.Start", 1], ["Screen.View", 4], ["Sync.Start", 2], ["Sync.Done", 1.8], ["Sync.Error", 0.25], ["App.Stop", 1], ["Update.Check", 0.5], ["App.Crash", 0.08]],
    userIds: true,
  },
  {
    clientId: "lumen-ios",
    system: "iOS",
    systemVersions: ["17.6", "18.1"],
    productVersions: ["4.3.0"],
    events: [["App.Start", 1], ["Screen.View", 5], ["Purchase.Completed", 0.3], ["Sync.Error", 0.15], ["App.Stop", 1], ["App.Crash", 0.1]],
    userIds: true,
  },
];
const TRACKED_DEVICES_PER_CLIENT = 12;
/** Days of tracking events, today included. */
const TRACKING_DAYS = 7;
const screens = ["Home", "Settings", "Library", "Sync", "Account", "Search"];

function paramsOf(event: string, random: () => number): string | undefined {
  switch (event) {
    case "Screen.View":
      return JSON.stringify({ screen: pick(screens, Math.floor(random() * 1000)) });
    case "Pool.TempRead":
      return JSON.stringify({ tempC: Math.round((24 + random() * 6) * 10) / 10 });
    case "Sync.Done":
      return JSON.stringify({ items: Math.floor(random() * 400), ms: Math.floor(200 + random() * 3000) });
    case "Sync.Error":
      return JSON.stringify({ error: pick(["ETIMEDOUT", "ECONNRESET", "HTTP 503", "quota exceeded"], Math.floor(random() * 1000)) });
    case "App.Crash":
      return JSON.stringify({ signal: pick(["SIGSEGV", "SIGABRT", "EXC_BAD_ACCESS"], Math.floor(random() * 1000)), module: pick(["libsync.so", "render", "pool-driver"], Math.floor(random() * 1000)) });
    case "Purchase.Completed":
      return JSON.stringify({ sku: pick(["pro-monthly", "pro-yearly", "storage-100"], Math.floor(random() * 1000)) });
    default:
      return undefined;
  }
}

function weighted(events: TrackerClient["events"], random: () => number): string {
  const total = events.reduce((sum, [, w]) => sum + w, 0);
  let roll = random() * total;
  for (const [name, w] of events) {
    roll -= w;
    if (roll < 0) return name;
  }
  return events[events.length - 1]![0];
}

/** Every event name the fixture sends. */
export const trackedEventNames: string[] = [...new Set(trackerClients.flatMap((c) => c.events.map(([name]) => name)))].sort();
export const trackedClientIds: string[] = trackerClients.map((c) => c.clientId);

// ---------------------------------------------------------------------------
// The simulated agents' command handling.

function answerCommand(command: ServerCommand): CommandResult {
  if (/\bfail/i.test(command.content)) return { returnCode: 1, reason: `simulated failure: ${command.content}`.slice(0, 256) };
  switch (command.type) {
    case 1:
      return { returnCode: 0, reason: `event recording started${command.content ? ` with ${command.content}` : ""}`.slice(0, 256) };
    case 2:
      return { returnCode: 0, reason: "event recording stopped" };
    case 3:
      return { returnCode: 0, reason: "diagnostics: cpu 12%, memory 41% used, disk 63% used, uptime 3d 4h" };
    default:
      return { returnCode: 0, reason: `type ${command.type} done${command.content ? `: ${command.content}` : ""}`.slice(0, 256) };
  }
}

/** Handlers for every command type (the Agent looks a type up by number). */
function everyType(handler: CommandHandler): Record<number, CommandHandler> {
  return new Proxy({} as Record<number, CommandHandler>, {
    get: (_target, key) => (typeof key === "string" && /^-?\d+$/.test(key) ? handler : undefined),
  });
}

class FleetClock {
  private offsetMs = 0;
  readonly now = (): number => Date.now() + this.offsetMs;
  set(at: number): void {
    this.offsetMs = at - Date.now();
  }
  reset(): void {
    this.offsetMs = 0;
  }
}

function check(exchange: Awaited<ReturnType<LegacyAgentClient["online"]>>, what: string): string {
  if (!exchange.ok) throw new Error(`${what}: answered ${exchange.status}${exchange.error ? ` (${String(exchange.error)})` : ""}`);
  return exchange.answer.token;
}

/** Runs `fn` over the items, at most `width` at once. */
async function inBatches<T>(items: readonly T[], width: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

async function until(what: string, timeoutMs: number, test: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`console fleet: ${what} did not happen within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

// ---------------------------------------------------------------------------

export async function startConsoleFleet(options: ConsoleFleetOptions = {}): Promise<ConsoleFleet> {
  const started = performance.now();
  const timings: Record<string, number> = {};
  let lap = started;
  const step = (name: string) => {
    const at = performance.now();
    timings[name] = Math.round(at - lap);
    lap = at;
    options.progress?.(`console fleet: ${name} (${timings[name]} ms)`);
  };

  const root = await mkdtemp(join(tmpdir(), "fleetbeat-console-fleet-"));
  const dataDir = join(root, "data");
  const agentDir = join(root, "agents");
  const heartbeatDir = join(root, "heartbeat");
  await Promise.all([mkdir(dataDir), mkdir(agentDir), mkdir(heartbeatDir)]);

  const trackSecret = "console-fleet-tracking-secret";
  const overrides: Partial<ServerConfig> = {
    port: options.port ?? 0,
    host: options.host ?? "127.0.0.1",
    dataDir,
    logLevel: options.logLevel ?? "silent",
    // No fsync per commit: a test database.
    sqliteSynchronous: "normal",
    track: { ...defaultConfig.track, secrets: { secret: trackSecret } },
    agent: {
      ...defaultConfig.agent,
      // Interval 0: each Agent keeps its own (500 ms or 60 s); online = seen within the grace.
      intervalSeconds: 0,
      jitterSeconds: 0,
      onlineGraceMs: 2 * MINUTE,
      // 300 registrations from one address.
      enrolPerAddressPerSecond: 0,
      enrolTotalPerSecond: 0,
      // The past command whose deadline passed expires within a second of the start.
      expireEveryMs: 1_000,
    },
    // Commit at once: the seeding's timeline is one request after the other.
    batchMaxDelayMs: 0,
    ...options.config,
  };
  // config.consoleDir (`--console-dir`) comes with the console's server part; assigned this way, the line
  // compiles before that lands in ServerConfig and after.
  if (options.consoleDir !== undefined) Object.assign(overrides, { consoleDir: options.consoleDir });

  const clock = new FleetClock();
  const realNow = Date.now();
  const today0 = realNow - (realNow % DAY);
  const dayStart = (daysAgo: number) => today0 - daysAgo * DAY;
  /** A device's first registration: its day's enrolment round, between 08:00 and 17:00 UTC. */
  const registeredAt = (d: DevicePlan) => dayStart(d.registeredDaysAgo) + 8 * HOUR + (hash(`enrolment:${d.registeredDaysAgo}`) % 540) * MINUTE;
  /** An offline device's last check-in: minutes or hours ago, or its day's round between 17:00 and 22:00 UTC. */
  const lastSeenAt = (d: DevicePlan) =>
    d.lastSeenDaysAgo !== undefined ? dayStart(d.lastSeenDaysAgo) + 17 * HOUR + (hash(`last:${d.lastSeenDaysAgo}`) % 300) * MINUTE : realNow - d.lastSeenAgoMs!;

  let server: RunningServer;
  try {
    server = await startServer(configWith(overrides), { now: clock.now });
  } catch (error) {
    await rm(root, { recursive: true, force: true });
    throw error;
  }
  const url = server.url;
  const running: Array<{ agent: Agent; done: Promise<void> }> = [];
  let liveTimer: ReturnType<typeof setInterval> | undefined;
  let liveSend: Promise<void> = Promise.resolve();
  let liveTrackers: ClientTracker[] = [];
  let operator: OperatorClient | undefined;
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      if (liveTimer) clearInterval(liveTimer);
      await liveSend;
      await Promise.all(liveTrackers.map((tracker) => tracker.close().catch(() => {})));
      for (const { agent } of running) agent.stop();
      // An agent ends once its request in flight is answered; 5 s at the most.
      await Promise.race([Promise.allSettled(running.map((r) => r.done)), new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
      operator?.close();
      try {
        await server.stop();
      } finally {
        await rm(root, { recursive: true, force: true });
      }
    })();
    return stopped;
  };

  try {
    const [admin, reader] = await Promise.all([
      createOperatorKey(server.store, { name: "console fleet admin", scope: "admin" }),
      createOperatorKey(server.store, { name: "console fleet read", scope: "read" }),
    ]);
    operator = new OperatorClient({ server: url, key: admin.secret, timeoutMs: 15_000 });
    const op = operator;
    step("server and keys");

    // --- The plan, and the timeline of the past. ---
    const devicePlans = planDevices();
    const installationPlans = planInstallations();
    const wire = new LegacyAgentClient({ server: url, timeoutMs: 10_000 });
    const tokens = new Map<string, string>();
    const timeline: Array<{ at: number; order: number; kind: string; run: () => Promise<void> }> = [];
    const at = (time: number, kind: string, run: () => Promise<void>) => timeline.push({ at: time, order: timeline.length, kind, run });
    const infoOf = (d: DevicePlan): DeviceInfo => ({ devicename: d.devicename, ip: d.ip, macaddress: d.macaddress, os: d.os });

    for (const d of devicePlans) {
      at(registeredAt(d), "registrations", async () => {
        tokens.set(d.deviceId, check(await wire.online(d.deviceId, infoOf(d), ""), `registering ${d.devicename}`));
      });
      if (d.status === "offline") {
        at(lastSeenAt(d), "last check-ins", async () => {
          const exchange = await wire.heartbeat(d.deviceId, tokens.get(d.deviceId)!, []);
          tokens.set(d.deviceId, check(exchange, `last check-in of ${d.devicename}`));
        });
      }
    }

    for (const [product, channels] of Object.entries(releaseTimeline)) {
      for (const [channel, steps] of Object.entries(channels)) {
        for (const s of steps) {
          at(dayStart(s.daysAgo) + 9 * HOUR + 30 * MINUTE, "releases", async () => {
            await op.releases.setRelease({ product, channel, version: s.version, rolloutPercent: s.rolloutPercent }, op.call());
          });
        }
      }
    }

    // Past commands: one delivered at an offline device's last check-in and never answered, one that expired
    // unseen (finished less than 30 days ago, so command retention leaves it alone).
    const offline = devicePlans.filter((d) => d.status === "offline" && d.lastSeenDaysAgo! > 2 && d.lastSeenDaysAgo! < 20);
    const commands: FleetCommands = { succeeded: [], failed: [], queued: [], delivered: [], expired: [], cancelled: [] };
    const deliveredTo = offline[0]!;
    at(lastSeenAt(deliveredTo) - HOUR, "past commands", async () => {
      const [c] = await op.queueCommand({ target: { case: "deviceId", value: deliveredTo.deviceId }, type: 2, content: '{"reason":"maintenance window"}', ttlMs: 120 * DAY });
      commands.delivered.push(c!.id);
    });
    const expiredFor = offline[1]!;
    at(lastSeenAt(expiredFor) + HOUR, "past commands", async () => {
      const [c] = await op.queueCommand({ target: { case: "deviceId", value: expiredFor.deviceId }, type: 3, content: "collect-diagnostics", ttlMs: HOUR });
      commands.expired.push(c!.id);
    });

    // Tracking: one tracker per (client id, device), events spread over each day, sent at the day's end.
    const trackers: Array<{ tracker: ClientTracker; client: TrackerClient; index: number; clientTime: { ms: number } }> = [];
    for (const client of trackerClients) {
      for (let index = 0; index < TRACKED_DEVICES_PER_CLIENT; index++) {
        const clientTime = { ms: dayStart(TRACKING_DAYS - 1) };
        const tracker = await ClientTracker.open({
          collectorUrl: url,
          sharedSecret: trackSecret,
          deviceId: `${client.clientId}-device-${pad3(index + 1)}`,
          clientId: client.clientId,
          systemVersion: pick(client.systemVersions, index),
          productVersion: pick(client.productVersions, index >> 1),
          system: client.system,
          productGitHash: hexOf(`${client.clientId}:${pick(client.productVersions, index >> 1)}`, 12),
          queueSize: 1_000_000,
          queueRetentionMinutes: 10 * 365 * 1440,
          storage: new MemoryStorage(),
          ip: () => `203.0.113.${index + 1}`,
          now: () => clientTime.ms,
        });
        trackers.push({ tracker, client, index, clientTime });
      }
    }
    let eventsSent = 0;
    /** Each tracker records `perTracker()` events at times in [from, sendAt) and sends them at `sendAt`. */
    // Each tracker's choices in a window come from a PRNG seeded by the tracker and the window's name, so the
    // events are the same on every start whatever the time of day.
    const trackWindow = async (window: string, from: number, sendAt: number, perTracker: (random: () => number) => number, which = trackers) => {
      const span = Math.max(1_000, sendAt - from - 1_000);
      await Promise.all(
        which.map(async ({ tracker, client, index, clientTime }) => {
          const random = prng(hash(`${client.clientId}:${index}:${window}`));
          const n = perTracker(random);
          const times = Array.from({ length: n }, () => from + Math.floor(random() * span)).sort((a, b) => a - b);
          for (const time of times) {
            clientTime.ms = time;
            const event = weighted(client.events, random);
            const params = paramsOf(event, random);
            await tracker.trackEvent(event, {
              ...(client.userIds ? { userId: 1000 + index } : {}),
              ...(params !== undefined ? { params } : {}),
              isTesting: client.clientId === "lumen-ios" && index === TRACKED_DEVICES_PER_CLIENT - 1,
            });
          }
          clientTime.ms = sendAt;
          const result = await tracker.flush();
          if (result.pending !== 0) throw new Error(`tracking flush of ${client.clientId} left ${result.pending} events: ${String(result.error)}`);
          eventsSent += result.delivered;
        }),
      );
    };
    // Six past days: events between 06:00 and 23:30, sent at 23:30. The last eight hours: sent every two hours.
    for (let daysAgo = TRACKING_DAYS - 1; daysAgo >= 1; daysAgo--) {
      const sendAt = dayStart(daysAgo) + 23 * HOUR + 30 * MINUTE;
      at(sendAt, "events", () => trackWindow(`day ${daysAgo}`, dayStart(daysAgo) + 6 * HOUR, sendAt, (random) => 6 + Math.floor(random() * 13)));
    }
    for (let hoursAgo = 8; hoursAgo >= 2; hoursAgo -= 2) {
      const sendAt = realNow - (hoursAgo - 2) * HOUR - 2 * MINUTE;
      at(sendAt, "events", () => trackWindow(`hours ${hoursAgo}`, sendAt - 2 * HOUR, sendAt, (random) => 1 + Math.floor(random() * 4)));
    }

    // Today's update heartbeats through the real client, in six rounds over the last hour (never before midnight UTC).
    const installations: FleetInstallation[] = installationPlans.map((p) => ({
      product: p.product,
      channel: p.channel,
      machineId: p.machineId,
      hbId: p.hbId,
      osType: p.osType,
      osVersion: p.osVersion,
      versionToday: reportsOn(p, 0, dayStart(0)) ? versionOn(p, 0) : undefined,
    }));
    installationPlans.forEach((p, k) => {
      const versionToday = installations[k]!.versionToday;
      if (versionToday === undefined) return;
      at(Math.max(dayStart(0), realNow - (1 + (hash(p.hbId) % 6)) * 10 * MINUTE), "today's heartbeats", async () => {
        const stateFile = join(heartbeatDir, `${p.hbId}.json`);
        await writeFile(stateFile, JSON.stringify({ installationId: p.hbId, machineId: p.machineId }));
        const client = new HeartbeatClient({
          baseUrl: url,
          version: versionToday,
          product: p.product,
          channel: p.channel,
          protocol: p.protocol,
          stateFile,
          platform: "fleet",
          osType: p.osType,
          osVersion: p.osVersion,
          requestTimeoutMs: 10_000,
        });
        await client.checkNow();
      });
    });

    // Census history: the past days' heartbeats as the heartbeat slice's own write operation, ten days per
    // operation, one operation at a time (the batcher's queue is bounded: batchMaxQueuedOps rows). It needs
    // no clock (receivedAt is in each row), so it runs beside the timeline, which mostly waits on its requests.
    const writeHistory = async () => {
      for (let first = HISTORY_DAYS; first >= 1; first -= 10) {
        const heartbeats: HeartbeatRow[] = [];
        for (let daysAgo = first; daysAgo > Math.max(0, first - 10); daysAgo--) {
          const start = dayStart(daysAgo);
          for (const p of installationPlans) {
            if (!reportsOn(p, daysAgo, start)) continue;
            heartbeats.push({
              machineId: p.machineId,
              hbId: p.hbId,
              product: p.product,
              channel: p.channel,
              version: versionOn(p, daysAgo),
              osType: p.osType,
              osVersion: p.osVersion,
              country: "notSet",
              region: "notSet",
              receivedAt: start + 2 * HOUR + (hash(`${p.hbId}:${daysAgo}`) % (20 * 60)) * MINUTE,
            });
          }
        }
        // Raw rows only where the retention job would leave them (the last rawRetentionDays days).
        const rawSince = dayStart(defaultConfig.heartbeat.rawRetentionDays);
        const older = heartbeats.filter((h) => h.receivedAt < rawSince);
        const recent = heartbeats.filter((h) => h.receivedAt >= rawSince);
        if (older.length > 0) await server.batcher.submit({ kind: "recordHeartbeats", heartbeats: older, keepRaw: false });
        if (recent.length > 0) await server.batcher.submit({ kind: "recordHeartbeats", heartbeats: recent, keepRaw: true });
      }
      timings["census history, beside the timeline"] = Math.round(performance.now() - lap);
    };
    // Actions of the same moment (a day's registrations) run side by side, the rest one after the other.
    const runTimeline = async () => {
      timeline.sort((a, b) => a.at - b.at || a.order - b.order);
      for (let i = 0; i < timeline.length; ) {
        const moment = timeline[i]!.at;
        let j = i;
        while (j < timeline.length && timeline[j]!.at === moment) j++;
        clock.set(moment);
        const began = performance.now();
        await Promise.all(timeline.slice(i, j).map((action) => action.run()));
        const kind = `the past: ${timeline[i]!.kind}`;
        timings[kind] = Math.round((timings[kind] ?? 0) + performance.now() - began);
        i = j;
      }
      clock.reset();
    };
    await Promise.all([writeHistory(), runTimeline()]);
    step(`the past (${new Set(timeline.map((a) => a.at)).size} moments: registrations, last check-ins, releases, past commands, ${eventsSent} events, today's heartbeats; 89 days of census beside)`);

    // --- Now: the living part, at real time; labels and agents side by side. ---
    const labelled = inBatches(devicePlans, 16, (d) => op.devices.setDeviceLabels({ deviceId: d.deviceId, add: d.labels }, op.call()));

    const agents: SimulatedAgent[] = [];
    const online = devicePlans.filter((d) => d.status === "online");
    const startAgents = async () => {
      for (const d of online) {
        const configFile = join(agentDir, `${d.devicename}.json`);
        // The agent's config file as its operator would lay it down (the Agent itself writes it durably from here on).
        await writeFile(configFile, JSON.stringify({ server: url, deviceId: d.deviceId, token: tokens.get(d.deviceId)!, executed: [], unreported: [] } satisfies AgentState));
        const handled: HandledCommand[] = [];
        const agent = new Agent({
          configFile,
          info: () => infoOf(d),
          handlers: everyType((command) => {
            const result = answerCommand(command);
            handled.push({ id: command.id, type: command.type, content: command.content, ...result, at: Date.now() });
            if (handled.length > 100) handled.shift();
            return result;
          }),
          intervalSeconds: d.simulated ? 0.5 : 60,
          jitterSeconds: d.simulated ? 0.1 : 15,
          registerRetryMs: 500,
          requestTimeoutMs: 10_000,
          random: prng(hash(d.deviceId)),
        });
        const done = agent.run().catch((error: unknown) => {
          options.progress?.(`console fleet: agent ${d.devicename} stopped: ${String(error)}`);
        });
        running.push({ agent, done });
        if (d.simulated) agents.push({ deviceId: d.deviceId, devicename: d.devicename, stats: agent.stats, handled });
      }
      await until("every online agent registering", 30_000, () => running.every((r) => r.agent.stats.registrations > 0));
    };

    await Promise.all([labelled, startAgents()]);
    if (options.liveEvents) {
      // Round robin over the trackers, at real time from now on.
      const everyMs = (typeof options.liveEvents === "object" ? options.liveEvents.everyMs : undefined) ?? 2_000;
      liveTrackers = trackers.map((t) => t.tracker);
      let turn = 0;
      liveTimer = setInterval(() => {
        const round = turn++;
        const t = trackers[round % trackers.length]!;
        liveSend = liveSend.then(async () => {
          const now = Date.now();
          await trackWindow(`live ${round}`, now - everyMs, now, (random) => 1 + Math.floor(random() * 3), [t]);
        }).catch((error: unknown) => options.progress?.(`console fleet: live events: ${String(error)}`));
      }, everyMs);
    } else await Promise.all(trackers.map(({ tracker }) => tracker.close()));
    step(`now: labels, ${running.length} agents registered (${agents.length} at 500 ms)`);

    // Commands of today: to the simulated agents (answered within a second) and to offline devices.
    const byName = new Map(devicePlans.map((d) => [d.devicename, d]));
    const device = (name: string) => byName.get(name)!.deviceId;
    const queueOne = async (name: string, type: number, content: string) =>
      (await op.queueCommand({ target: { case: "deviceId", value: device(name) }, type, content }))[0]!.id;
    const idle = devicePlans.filter((d) => d.status === "offline" && !d.labels.includes("ring:canary") && d !== deliveredTo && d !== expiredFor);
    const [succeeded1, succeeded2, succeeded3, failed, queued1, queued2, toCancel] = await Promise.all([
      queueOne("lab-mac-001", 1, '{"whitelist":["App.*","Sync.*"],"blacklist":["Screen.View"]}'),
      queueOne("kiosk-001", 3, "collect-diagnostics"),
      queueOne("field-rpi-002", 2, ""),
      queueOne("store-pos-001", 3, "fail: disk /var is full"),
      queueOne(idle[0]!.devicename, 1, '{"whitelist":["App.Crash"]}'),
      queueOne(idle[1]!.devicename, 5, "reboot"),
      queueOne(idle[2]!.devicename, 5, "reboot"),
    ]);
    await op.commands.cancelCommand({ ids: [toCancel] }, op.call());
    commands.succeeded.push(succeeded1, succeeded2, succeeded3);
    commands.failed.push(failed);
    commands.queued.push(queued1, queued2);
    commands.cancelled.push(toCancel);

    const campaignLabel = "ring:canary";
    const campaign = (
      await op.queue({
        target: { case: "label", value: campaignLabel },
        type: 1,
        content: '{"whitelist":["App.*","Sync.*"]}',
        ttlMs: 7 * DAY,
        campaign: { abortFailurePercent: 50, abortMinResults: 10, retryCount: 1 },
      })
    ).campaign!;

    const waitFor = [...commands.succeeded, ...commands.failed, ...commands.expired, ...commands.cancelled];
    const finals = new Map<bigint, CommandState>();
    for await (const c of op.waitCommands(waitFor, 15_000)) finals.set(c.id, c.state);
    const expectState = (ids: bigint[], state: CommandState, name: string) => {
      for (const id of ids) if (finals.get(id) !== state) throw new Error(`console fleet: command ${id} is ${CommandState[finals.get(id) ?? 0]}, not ${name}`);
    };
    expectState(commands.succeeded, CommandState.SUCCEEDED, "SUCCEEDED");
    expectState(commands.failed, CommandState.FAILED, "FAILED");
    expectState(commands.expired, CommandState.EXPIRED, "EXPIRED");
    expectState(commands.cancelled, CommandState.CANCELLED, "CANCELLED");
    step("commands and campaign");

    const releases: FleetRelease[] = (await op.releases.listReleases({}, op.call())).releases.map((r) => ({
      product: r.product,
      channel: r.channel,
      version: r.version,
      rolloutPercent: r.rolloutPercent,
    }));
    const devices: FleetDevice[] = devicePlans.map((plan) => {
      const { registeredDaysAgo: _days, lastSeenAgoMs: _ago, lastSeenDaysAgo: _lastDays, ...d } = plan;
      const registered = registeredAt(plan);
      const lastSeen = d.status === "offline" ? lastSeenAt(plan) : d.status === "never-checked-in" ? registered : undefined;
      return { ...d, labels: [...d.labels], registeredAt: registered, ...(lastSeen !== undefined ? { lastSeenAt: lastSeen } : {}) };
    });
    timings.total = Math.round(performance.now() - started);
    return {
      url,
      adminKey: admin.secret,
      readKey: reader.secret,
      devices,
      agents,
      installations,
      releases,
      tracking: { secret: trackSecret, clientIds: trackedClientIds, eventNames: trackedEventNames, events: eventsSent },
      commands,
      campaign: { id: campaign.id, label: campaignLabel },
      counts: {
        devices: devices.length,
        online: devices.filter((d) => d.status === "online").length,
        offline: devices.filter((d) => d.status !== "online").length,
        neverCheckedIn: devices.filter((d) => d.status === "never-checked-in").length,
        installations: installations.length,
        installationsToday: installations.filter((i) => i.versionToday !== undefined).length,
        events: eventsSent,
      },
      timings,
      server,
      root,
      stop,
    };
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
}
