// The operator command groups of `fleetbeat`: devices, commands, campaigns, releases,
// census, events, machines, keys (list/revoke/issue; `keys create` against the
// database is the server's) and stats. Every command talks to a running server
// through the generated Connect clients (client.ts); none opens the database.
//
// Output: aligned tables for people; --json for scripts (one JSON document: an
// object, or an array for lists, in proto3 JSON). Exit codes: exit-codes.ts.
// Server and key: connection.ts (flags, then environment, then config file).
import type { Writable } from "node:stream";
import { type DescMessage, type MessageShape, toJson } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { type Command as CliCommand, CommanderError, InvalidArgumentError, Option } from "commander";
import { durationMs } from "@bufbuild/protobuf/wkt";
import { type CensusBucket, GetCensusResponseSchema, GetCensusSeriesResponseSchema } from "../../gen/fleetbeat/operator/v1/census_pb.js";
import {
  type Campaign,
  CampaignSchema,
  CampaignState,
  type Command,
  CommandSchema,
  CommandState,
} from "../../gen/fleetbeat/operator/v1/commands_pb.js";
import { type Device, DeviceSchema, GetDeviceResponseSchema, OnlineFilter } from "../../gen/fleetbeat/operator/v1/devices_pb.js";
import { type Event, EventSchema, ExportFormat } from "../../gen/fleetbeat/operator/v1/events_pb.js";
import { type ApiKey, ApiKeySchema, CreateKeyResponseSchema, KeyScope } from "../../gen/fleetbeat/operator/v1/keys_pb.js";
import { EraseMachineResponseSchema, ExportMachineResponseSchema } from "../../gen/fleetbeat/operator/v1/machines_pb.js";
import { type Release, ReleaseSchema } from "../../gen/fleetbeat/operator/v1/releases_pb.js";
import { GetStatsResponseSchema } from "../../gen/fleetbeat/operator/v1/stats_pb.js";
import { type CommandTargetInit, type EventFilterInit, OperatorClient } from "./client.js";
import { ConnectionSettingsError, resolveConnection } from "./connection.js";
import { classifyError, ExitCode, type ExitCodeValue } from "./exit-codes.js";
import { type ExportSink, openFileSink, streamSink } from "./file-sink.js";
import {
  type Column,
  formatAgo,
  formatBytes,
  formatCount,
  formatTime,
  parseDuration,
  parseTime,
  renderFields,
  renderTable,
} from "./format.js";
import { ProgressBar } from "./progress.js";

/** Where the commands read their settings and write their output (the process, or a test's buffers). */
export interface OperatorCliIo {
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean; columns?: number };
  env: NodeJS.ProcessEnv;
  /** Home folder for the default config file. */
  home?: string;
  now: () => number;
  /** Ends `events follow` (the CLI wires SIGINT to it). */
  interrupt?: AbortSignal;
}

/** What cli/program.ts hands to each command group. */
export interface CommandGroupKit {
  group(name: string, description: string): CliCommand;
}

interface CommonOptions {
  server?: string;
  key?: string;
  config?: string;
  json?: boolean;
}

interface RunContext {
  client: OperatorClient;
  io: OperatorCliIo;
  json: boolean;
  out(text: string): void;
  err(text: string): void;
}

/** Ends an action with an exit code, after its message went to stderr. */
class ActionExit extends CommanderError {
  constructor(exitCode: ExitCodeValue, message: string) {
    super(exitCode, "fleetbeat.operator", message);
  }
}

function usage(message: string): never {
  throw new ConnectionSettingsError(message);
}

// ---- option parsers (commander turns InvalidArgumentError into exit code 2)

function positiveInt(what: string, allowZero = false): (raw: string) => number {
  return (raw) => {
    const value = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : Number.NaN;
    if (!Number.isSafeInteger(value) || (!allowZero && value === 0)) {
      throw new InvalidArgumentError(`expected ${what}: a whole number${allowZero ? "" : " above 0"}.`);
    }
    return value;
  };
}

function duration(raw: string): number {
  const ms = parseDuration(raw);
  if (ms === undefined || ms <= 0) throw new InvalidArgumentError('expected a duration such as "30s", "10m", "24h", "7d" or "1h30m".');
  return ms;
}

function commandId(raw: string): bigint {
  if (!/^\d{1,19}$/.test(raw.trim())) throw new InvalidArgumentError(`expected a command id (a whole number), got ${JSON.stringify(raw)}.`);
  return BigInt(raw.trim());
}

function collect<T>(parse: (raw: string) => T): (raw: string, previous: T[] | undefined) => T[] {
  return (raw, previous) => [...(previous ?? []), parse(raw)];
}

function listItems(raw: string): string[] {
  return raw
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "");
}

const commandStates: Record<string, CommandState> = {
  queued: CommandState.QUEUED,
  delivered: CommandState.DELIVERED,
  succeeded: CommandState.SUCCEEDED,
  failed: CommandState.FAILED,
  expired: CommandState.EXPIRED,
  cancelled: CommandState.CANCELLED,
};

function stateName(state: CommandState): string {
  return Object.entries(commandStates).find(([, value]) => value === state)?.[0] ?? "unknown";
}

const campaignStates: Record<string, CampaignState> = {
  running: CampaignState.RUNNING,
  completed: CampaignState.COMPLETED,
  aborted: CampaignState.ABORTED,
  cancelled: CampaignState.CANCELLED,
  expired: CampaignState.EXPIRED,
};

function campaignStateName(state: CampaignState): string {
  return Object.entries(campaignStates).find(([, value]) => value === state)?.[0] ?? "unknown";
}

function campaignTarget(c: Campaign): string {
  const t = c.target?.target;
  return t?.case === "label" ? `label ${t.value}` : t?.case === "allDevices" ? "all devices" : "-";
}

function campaignProgress(c: Campaign): string {
  return `${formatCount(Number(c.targeted))}/${c.materialised ? "" : "~"}${formatCount(Number(c.estimated))}`;
}

function campaignFields(c: Campaign): string {
  const o = c.options;
  return renderFields([
    ["campaign", c.id.toString()],
    ["state", campaignStateName(c.state) + (c.reason ? ` (${c.reason})` : "")],
    ["target", campaignTarget(c)],
    ["type", String(c.type)],
    ["content", c.content],
    ["devices reached", `${campaignProgress(c)}${c.materialised ? "" : " (estimate)"}`],
    ["succeeded", formatCount(Number(c.succeeded))],
    ["failed", formatCount(Number(c.failed))],
    ["retried", formatCount(Number(c.retried))],
    ["rate", o?.devicesPerMinute ? `${o.devicesPerMinute} devices/min` : "unlimited"],
    ["abort", o?.abortFailurePercent ? `failures above ${o.abortFailurePercent}% after ${o.abortMinResults} results` : "never"],
    ["retries", o?.retryCount ? `${o.retryCount}, backoff ${o.retryBackoff ? `${durationMs(o.retryBackoff) / 1000}s` : "none"}` : "none"],
    ["created", formatTime(c.createdAt)],
    ["deadline", formatTime(c.deadline)],
    ["finished", formatTime(c.finishedAt)],
  ]);
}

const campaignColumns: Column<Campaign>[] = [
  { header: "ID", value: (c) => c.id.toString(), right: true },
  { header: "STATE", value: (c) => campaignStateName(c.state) },
  { header: "TARGET", value: (c) => campaignTarget(c) },
  { header: "TYPE", value: (c) => String(c.type), right: true },
  { header: "REACHED", value: (c) => campaignProgress(c), right: true },
  { header: "OK", value: (c) => formatCount(Number(c.succeeded)), right: true },
  { header: "FAILED", value: (c) => formatCount(Number(c.failed)), right: true },
  { header: "CREATED", value: (c) => formatTime(c.createdAt) },
];

function percent(raw: string): number {
  const value = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : Number.NaN;
  if (!(value >= 1 && value <= 100)) throw new InvalidArgumentError("expected a percentage from 1 to 100.");
  return value;
}

function scopeName(scope: KeyScope): string {
  return scope === KeyScope.ADMIN ? "admin" : scope === KeyScope.READ ? "read" : "unknown";
}

function isFinal(state: CommandState): boolean {
  return state === CommandState.SUCCEEDED || state === CommandState.FAILED || state === CommandState.EXPIRED || state === CommandState.CANCELLED;
}

// ---- JSON output

function jsonOf<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): unknown {
  return toJson(schema, message, { alwaysEmitImplicit: true, enumAsInteger: false });
}

/** Writes a JSON array one element at a time, so a long list never sits in memory as one string. */
async function writeJsonArray<T>(ctx: RunContext, items: AsyncIterable<T>, toValue: (item: T) => unknown): Promise<number> {
  let count = 0;
  ctx.out("[");
  for await (const item of items) {
    ctx.out(`${count === 0 ? "\n" : ",\n"}  ${JSON.stringify(toValue(item))}`);
    count++;
  }
  ctx.out(count === 0 ? "]\n" : "\n]\n");
  return count;
}

async function collectAll<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

// ---- tables

function deviceColumns(now: number): Column<Device>[] {
  return [
    { header: "DEVICE ID", value: (d) => d.deviceId },
    { header: "NAME", value: (d) => d.devicename },
    { header: "OS", value: (d) => d.os },
    { header: "IP", value: (d) => d.ip },
    { header: "LABELS", value: (d) => d.labels.join(",") },
    { header: "STATUS", value: (d) => (d.online ? "online" : "offline") },
    { header: "LAST SEEN", value: (d) => formatAgo(d.lastSeen, now) },
  ];
}

const commandColumns: Column<Command>[] = [
  { header: "ID", value: (c) => c.id.toString(), right: true },
  { header: "DEVICE", value: (c) => c.deviceId },
  { header: "TYPE", value: (c) => String(c.type), right: true },
  { header: "STATE", value: (c) => stateName(c.state) },
  { header: "CREATED", value: (c) => formatTime(c.createdAt) },
  { header: "DEADLINE", value: (c) => formatTime(c.deadline) },
  { header: "TRIES", value: (c) => String(c.deliveryCount), right: true },
  { header: "RESULT", value: (c) => (c.finishedAt && (c.state === CommandState.SUCCEEDED || c.state === CommandState.FAILED) ? `${c.returnCode} ${c.reason}`.trim() : "") },
  { header: "CONTENT", value: (c) => shorten(c.content, 40) },
];

const releaseColumns: Column<Release>[] = [
  { header: "PRODUCT", value: (r) => r.product },
  { header: "CHANNEL", value: (r) => r.channel },
  { header: "VERSION", value: (r) => r.version },
  { header: "ROLLOUT", value: (r) => `${r.rolloutPercent}%`, right: true },
  { header: "PREVIOUS", value: (r) => r.previousVersion || "-" },
  { header: "UPDATED", value: (r) => formatTime(r.updatedAt) },
];

const keyColumns: Column<ApiKey>[] = [
  { header: "ID", value: (k) => k.id },
  { header: "NAME", value: (k) => k.name },
  { header: "SCOPE", value: (k) => scopeName(k.scope) },
  { header: "CREATED", value: (k) => formatTime(k.createdAt) },
  { header: "LAST USED", value: (k) => formatTime(k.lastUsedAt) },
  { header: "REVOKED", value: (k) => formatTime(k.revokedAt) },
];

const eventColumns: Column<Event>[] = [
  { header: "AT", value: (e) => new Date(Number(e.at) * 1000).toISOString().replace(/\.000Z$/, "Z") },
  { header: "EVENT", value: (e) => e.event },
  { header: "DEVICE", value: (e) => shorten(e.deviceId, 12) },
  { header: "CLIENT", value: (e) => e.clientId },
  { header: "SESSION", value: (e) => shorten(e.session, 12) },
  { header: "NR", value: (e) => String(e.nr), right: true },
  { header: "USER", value: (e) => (e.userId === undefined ? "" : String(e.userId)), right: true },
  { header: "IP", value: (e) => e.ip },
  { header: "PARAMETERS", value: (e) => shorten(e.parameters, 40) },
];

const bucketColumns = (title: string): Column<CensusBucket>[] => [
  { header: title, value: (b) => b.key || "(unknown)" },
  { header: "INSTALLATIONS", value: (b) => formatCount(b.installations), right: true },
];

function shorten(text: string, max: number): string {
  return [...text].length <= max ? text : `${[...text].slice(0, max - 1).join("")}…`;
}

// ---- the command groups

/** The operator command groups, writing to `io` (the process by default). */
export function operatorCommandGroups(ioOverrides: Partial<OperatorCliIo> = {}): (program: CliCommand, kit: CommandGroupKit) => void {
  const io: OperatorCliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env, now: Date.now, ...ioOverrides };

  /** A leaf command with the connection options every operator command takes. */
  function leaf(parent: CliCommand, nameAndArgs: string, description: string, options: { isDefault?: boolean } = {}): CliCommand {
    return parent
      .command(nameAndArgs, options)
      .description(description)
      .option("--server <url>", "fleetbeat server URL (env FLEETBEAT_SERVER, config \"server\"; default http://127.0.0.1:6011)")
      .option("--key <key>", "operator API key (env FLEETBEAT_KEY, config \"key\")")
      .option("--config <file>", "config file (env FLEETBEAT_CONFIG; default ~/.config/fleetbeat/cli.json)")
      .option("--json", "print JSON (proto3 JSON names) instead of a table");
  }

  /** Wraps an action: resolves the connection, runs, and turns errors into exit codes. */
  function act<A extends unknown[]>(
    run: (ctx: RunContext, options: Record<string, unknown>, ...args: A) => Promise<ExitCodeValue | void>,
  ): (...raw: unknown[]) => Promise<void> {
    return async (...raw) => {
      const command = raw[raw.length - 1] as CliCommand;
      const options = command.opts<CommonOptions & Record<string, unknown>>();
      const args = raw.slice(0, raw.length - 2) as A;
      const err = (text: string): void => void io.stderr.write(text);
      let server = "the server";
      let client: OperatorClient | undefined;
      let code: ExitCodeValue | void;
      try {
        const connection = resolveConnection(options, { env: io.env, ...(io.home !== undefined ? { home: io.home } : {}) });
        server = connection.server;
        if (connection.key === undefined) {
          err("fleetbeat: error: no operator key: give --key, set FLEETBEAT_KEY or put \"key\" in the config file (the first key comes from `fleetbeat keys create` on the server)\n");
          throw new ActionExit(ExitCode.auth, "no operator key");
        }
        client = new OperatorClient({ server: connection.server, key: connection.key });
        const ctx: RunContext = { client, io, json: options.json === true, out: (text) => void io.stdout.write(text), err };
        code = await run(ctx, options, ...args);
      } catch (error) {
        if (error instanceof CommanderError) throw error;
        const { exitCode, message } = classifyError(error, server);
        err(`fleetbeat: error: ${message}\n`);
        throw new ActionExit(exitCode, message);
      } finally {
        client?.close();
      }
      if (code !== undefined && code !== ExitCode.ok) throw new ActionExit(code, `exit code ${code}`);
    };
  }

  return (_program, kit) => {
    // ---- devices
    const devices = kit.group("devices", "endpoint agents: list, show, label, delete (operator API)");
    leaf(devices, "list", "list devices, with online/offline status and last seen")
      .option("--online", "only devices online now")
      .option("--offline", "only devices offline now")
      .option("--os <os>", "only this exact OS string")
      .option("--label <label>", "only devices carrying this label")
      .option("--query <prefix>", "device id or name starts with this")
      .option("--limit <n>", "at most this many (default: all, page by page)", positiveInt("a count"))
      .action(
        act(async (ctx, o) => {
          if (o.online && o.offline) usage("--online and --offline exclude each other");
          const filter = {
            online: o.online ? OnlineFilter.ONLINE : o.offline ? OnlineFilter.OFFLINE : OnlineFilter.UNSPECIFIED,
            os: (o.os as string | undefined) ?? "",
            label: (o.label as string | undefined) ?? "",
            query: (o.query as string | undefined) ?? "",
          };
          const items = ctx.client.listDevices(filter, o.limit as number | undefined);
          if (ctx.json) {
            await writeJsonArray(ctx, items, (d) => jsonOf(DeviceSchema, d));
            return;
          }
          const rows = await collectAll(items);
          ctx.out(renderTable(rows, deviceColumns(ctx.io.now())));
          ctx.err(`${formatCount(rows.length)} device(s), ${formatCount(rows.filter((d) => d.online).length)} online\n`);
        }),
      );

    leaf(devices, "show <deviceId>", "one device with its newest commands")
      .option("--commands <n>", "how many of its newest commands to show", positiveInt("a count"))
      .action(
        act(async (ctx, o, deviceId: string) => {
          const response = await ctx.client.devices.getDevice({ deviceId, commandLimit: (o.commands as number | undefined) ?? 0 }, ctx.client.call());
          if (ctx.json) {
            ctx.out(`${JSON.stringify(jsonOf(GetDeviceResponseSchema, response), null, 2)}\n`);
            return;
          }
          const d = response.device;
          if (d) {
            const now = ctx.io.now();
            ctx.out(
              renderFields([
                ["device id", d.deviceId],
                ["name", d.devicename],
                ["status", `${d.online ? "online" : "offline"} (last seen ${formatTime(d.lastSeen)}, ${formatAgo(d.lastSeen, now)})`],
                ["os", d.os],
                ["ip", d.ip],
                ["mac address", d.macaddress],
                ["labels", d.labels.join(", ") || "-"],
                ["registered", formatTime(d.registeredAt)],
                ["updated", formatTime(d.updatedAt)],
                ["token expires", formatTime(d.tokenExpiresAt)],
              ]),
            );
          }
          ctx.out(response.commands.length === 0 ? "\nno commands\n" : `\ncommands (newest first):\n${renderTable(response.commands, commandColumns)}`);
        }),
      );

    leaf(devices, "label <deviceId>", "add or remove labels of a device")
      .option("--add <labels>", "labels to add, comma-separated (repeatable)", collect(listItems))
      .option("--remove <labels>", "labels to remove, comma-separated (repeatable)", collect(listItems))
      .action(
        act(async (ctx, o, deviceId: string) => {
          const add = ((o.add as string[][] | undefined) ?? []).flat();
          const remove = ((o.remove as string[][] | undefined) ?? []).flat();
          if (add.length === 0 && remove.length === 0) usage("give --add and/or --remove");
          const response = await ctx.client.devices.setDeviceLabels({ deviceId, add, remove }, ctx.client.call());
          if (ctx.json) {
            ctx.out(`${JSON.stringify(response.device ? jsonOf(DeviceSchema, response.device) : null)}\n`);
            return;
          }
          ctx.out(`${deviceId}: ${response.device?.labels.join(", ") || "(no labels)"}\n`);
        }),
      );

    leaf(devices, "delete <deviceId>", "forget a device: its tokens stop working and it must register again")
      .action(
        act(async (ctx, _o, deviceId: string) => {
          const response = await ctx.client.devices.deleteDevice({ deviceId }, ctx.client.call());
          if (ctx.json) ctx.out(`${JSON.stringify({ deviceId, deleted: response.deleted })}\n`);
          else if (response.deleted) ctx.out(`deleted device ${deviceId}\n`);
          if (!response.deleted) {
            ctx.err(`fleetbeat: error: not found: no device ${deviceId}\n`);
            return ExitCode.notFound;
          }
        }),
      );

    // ---- commands
    const commands = kit.group("commands", "commands for endpoint agents: queue, list, cancel, wait (operator API)");
    leaf(commands, "queue", "queue a command for one device or a list; for a label or every device, start a campaign")
      .requiredOption("--type <n>", "command type (1 start event recording, 2 stop event recording, …)", positiveInt("a command type", true))
      .option("--content <text>", "the command's content (its parameters)", "")
      .option("--device <ids>", "target device id(s), comma-separated (repeatable; at most 1000)", collect(listItems))
      .option("--label <label>", "every device carrying this label (a campaign)")
      .option("--all", "every registered device (a campaign)")
      .option("--ttl <duration>", "give up after this long (default: the server's); a campaign's deadline", duration)
      .option("--rate <n>", "campaign: at most this many devices per minute", positiveInt("devices per minute"))
      .option("--abort-failures <percent>", "campaign: abort when failures exceed this percentage of results", percent)
      .option("--abort-after <n>", "campaign: … once at least this many results are in (default 1)", positiveInt("a count of results"))
      .option("--retries <n>", "campaign: queue a failed device's command again up to this many times", positiveInt("a count", true))
      .option("--retry-backoff <duration>", "campaign: wait this long before a retry", duration)
      .option("--wait", "then wait for the results (exit code 5 unless all succeed)")
      .option("--timeout <duration>", "with --wait: how long to wait (default: the server's; 10m for a campaign)", duration)
      .action(
        act(async (ctx, o) => {
          const devicesGiven = ((o.device as string[][] | undefined) ?? []).flat();
          const chosen = [devicesGiven.length > 0, o.label !== undefined, o.all === true].filter(Boolean).length;
          if (chosen !== 1) usage("give exactly one target: --device <ids>, --label <label> or --all");
          const campaignFlags = ["rate", "abortFailures", "abortAfter", "retries", "retryBackoff"].filter((k) => o[k] !== undefined);
          if (devicesGiven.length > 0 && campaignFlags.length > 0) usage("--rate, --abort-*, --retries and --retry-backoff apply to --label or --all (a campaign)");
          if (o.abortAfter !== undefined && o.abortFailures === undefined) usage("--abort-after needs --abort-failures");
          const target: CommandTargetInit =
            devicesGiven.length === 1
              ? { case: "deviceId", value: devicesGiven[0] as string }
              : devicesGiven.length > 1
                ? { case: "devices", value: { deviceIds: devicesGiven } }
                : o.label !== undefined
                  ? { case: "label", value: o.label as string }
                  : { case: "allDevices", value: true };
          const response = await ctx.client.queue({
            target,
            type: o.type as number,
            content: o.content as string,
            ...(o.ttl !== undefined ? { ttlMs: o.ttl as number } : {}),
            ...(devicesGiven.length === 0
              ? {
                  campaign: {
                    devicesPerMinute: (o.rate as number | undefined) ?? 0,
                    abortFailurePercent: (o.abortFailures as number | undefined) ?? 0,
                    abortMinResults: (o.abortAfter as number | undefined) ?? 0,
                    retryCount: (o.retries as number | undefined) ?? 0,
                    ...(o.retryBackoff !== undefined ? { retryBackoff: durationFromMs(o.retryBackoff as number) } : {}),
                  },
                }
              : {}),
          });
          if (response.campaign) return reportCampaign(ctx, response.campaign, o.wait === true, (o.timeout as number | undefined) ?? 600_000);
          const queued = response.commands;
          if (!o.wait) {
            if (ctx.json) ctx.out(`${JSON.stringify(queued.map((c) => jsonOf(CommandSchema, c)), null, 2)}\n`);
            else {
              ctx.out(renderTable(queued, commandColumns));
              ctx.err(`queued ${queued.length} command(s)\n`);
            }
            return;
          }
          if (!ctx.json) ctx.err(`queued ${queued.length} command(s); waiting for results…\n`);
          return waitAndReport(ctx, queued.map((c) => c.id), o.timeout as number | undefined);
        }),
      );

    leaf(commands, "list", "list commands, newest first")
      .addOption(new Option("--state <state>", "only commands in this state").choices(Object.keys(commandStates)))
      .option("--device <id>", "only commands of this device")
      .option("--campaign <id>", "only commands of this campaign", commandId)
      .option("--limit <n>", "at most this many (default: all, page by page)", positiveInt("a count"))
      .action(
        act(async (ctx, o) => {
          const filter = {
            state: o.state === undefined ? CommandState.UNSPECIFIED : (commandStates[o.state as string] ?? CommandState.UNSPECIFIED),
            deviceId: (o.device as string | undefined) ?? "",
            campaignId: (o.campaign as bigint | undefined) ?? 0n,
          };
          const items = ctx.client.listCommands(filter, o.limit as number | undefined);
          if (ctx.json) {
            await writeJsonArray(ctx, items, (c) => jsonOf(CommandSchema, c));
            return;
          }
          const rows = await collectAll(items);
          ctx.out(renderTable(rows, commandColumns));
          ctx.err(`${formatCount(rows.length)} command(s)\n`);
        }),
      );

    leaf(commands, "cancel <ids...>", "cancel commands not yet final (final ones keep their state)")
      .action(
        act(async (ctx, _o, ids: string[]) => {
          const parsed = ids.map((id) => {
            try {
              return commandId(id);
            } catch (error) {
              return usage((error as Error).message);
            }
          });
          const response = await ctx.client.commands.cancelCommand({ ids: parsed }, ctx.client.call());
          if (ctx.json) {
            ctx.out(`${JSON.stringify(response.commands.map((c) => jsonOf(CommandSchema, c)), null, 2)}\n`);
            return;
          }
          ctx.out(renderTable(response.commands, commandColumns));
        }),
      );

    leaf(commands, "wait <ids...>", "wait until commands are final; exit code 5 unless all succeeded")
      .option("--timeout <duration>", "how long to wait at most (default: the server's)", duration)
      .action(
        act(async (ctx, o, ids: string[]) => {
          const parsed = ids.map((id) => {
            try {
              return commandId(id);
            } catch (error) {
              return usage((error as Error).message);
            }
          });
          return waitAndReport(ctx, parsed, o.timeout as number | undefined);
        }),
      );

    leaf(commands, "purge", "delete final commands (succeeded, failed, expired, cancelled) matching a filter")
      .option("--campaign <id>", "only commands of this campaign", commandId)
      .addOption(new Option("--state <state>", "only commands in this final state").choices(["succeeded", "failed", "expired", "cancelled"]))
      .option("--finished-before <time>", "only commands finished before this (ISO time, epoch seconds, or -7d for 7 days ago)")
      .action(
        act(async (ctx, o) => {
          if (o.campaign === undefined && o.state === undefined && o.finishedBefore === undefined) {
            usage("give at least one filter: --campaign, --state or --finished-before");
          }
          let finishedBefore: number | undefined;
          if (o.finishedBefore !== undefined) {
            finishedBefore = parseTime(o.finishedBefore as string, ctx.io.now());
            if (finishedBefore === undefined) usage(`--finished-before: expected an ISO time, epoch seconds or -<duration>, got ${JSON.stringify(o.finishedBefore)}`);
          }
          const deleted = await ctx.client.purgeCommands({
            campaignId: (o.campaign as bigint | undefined) ?? 0n,
            state: o.state === undefined ? CommandState.UNSPECIFIED : (commandStates[o.state as string] ?? CommandState.UNSPECIFIED),
            ...(finishedBefore !== undefined ? { finishedBefore: timestampFromMs(finishedBefore) } : {}),
          });
          if (ctx.json) ctx.out(`${JSON.stringify({ deleted: deleted.toString() })}\n`);
          else ctx.out(`deleted ${formatCount(Number(deleted))} command(s)\n`);
        }),
      );

    // ---- campaigns
    const campaigns = kit.group("campaigns", "commands for a label or every device, given out in chunks: list, show, wait, cancel (operator API)");
    leaf(campaigns, "list", "list campaigns, newest first")
      .addOption(new Option("--state <state>", "only campaigns in this state").choices(Object.keys(campaignStates)))
      .option("--limit <n>", "at most this many (default: all, page by page)", positiveInt("a count"))
      .action(
        act(async (ctx, o) => {
          const items = ctx.client.listCampaigns(
            { state: o.state === undefined ? CampaignState.UNSPECIFIED : (campaignStates[o.state as string] ?? CampaignState.UNSPECIFIED) },
            o.limit as number | undefined,
          );
          if (ctx.json) {
            await writeJsonArray(ctx, items, (c) => jsonOf(CampaignSchema, c));
            return;
          }
          const rows = await collectAll(items);
          ctx.out(renderTable(rows, campaignColumns));
          ctx.err(`${formatCount(rows.length)} campaign(s)\n`);
        }),
      );
    leaf(campaigns, "show <id>", "one campaign: state, devices reached, results, policy")
      .action(
        act(async (ctx, _o, id: string) => {
          const campaign = (await ctx.client.commands.getCampaign({ id: parseId(id) }, ctx.client.call())).campaign!;
          ctx.out(ctx.json ? `${JSON.stringify(jsonOf(CampaignSchema, campaign), null, 2)}\n` : campaignFields(campaign));
        }),
      );
    leaf(campaigns, "wait <id>", "wait until a campaign ends; exit code 5 unless it completed without failures")
      .option("--timeout <duration>", "how long to wait at most (default 10m)", duration)
      .action(
        act(async (ctx, o, id: string) => {
          const campaign = (await ctx.client.commands.getCampaign({ id: parseId(id) }, ctx.client.call())).campaign!;
          return reportCampaign(ctx, campaign, true, (o.timeout as number | undefined) ?? 600_000);
        }),
      );
    leaf(campaigns, "cancel <id>", "stop a campaign: no more devices get its command, its open commands are cancelled")
      .action(
        act(async (ctx, _o, id: string) => {
          const campaign = (await ctx.client.commands.cancelCampaign({ id: parseId(id) }, ctx.client.call())).campaign!;
          ctx.out(ctx.json ? `${JSON.stringify(jsonOf(CampaignSchema, campaign), null, 2)}\n` : campaignFields(campaign));
        }),
      );

    // ---- releases
    const releases = kit.group("releases", "newest versions offered to update heartbeats (operator API)");
    leaf(releases, "list", "list releases per product and channel")
      .option("--product <product>", "only this product")
      .action(
        act(async (ctx, o) => {
          const response = await ctx.client.releases.listReleases({ product: (o.product as string | undefined) ?? "" }, ctx.client.call());
          if (ctx.json) ctx.out(`${JSON.stringify(response.releases.map((r) => jsonOf(ReleaseSchema, r)), null, 2)}\n`);
          else ctx.out(renderTable(response.releases, releaseColumns));
        }),
      );
    leaf(releases, "set <version>", "set the newest version of a product and channel")
      .option("--product <product>", "product (default: the server's default product)")
      .option("--channel <channel>", "channel (default: the server's default channel)")
      .option("--rollout <percent>", "offer it to this share of installations, 1-100 (default 100)", positiveInt("a percentage"))
      .action(
        act(async (ctx, o, version: string) => {
          if (o.rollout !== undefined && (o.rollout as number) > 100) usage("--rollout is a percentage from 1 to 100");
          const response = await ctx.client.releases.setRelease(
            { product: (o.product as string | undefined) ?? "", channel: (o.channel as string | undefined) ?? "", version, rolloutPercent: (o.rollout as number | undefined) ?? 0 },
            ctx.client.call(),
          );
          if (ctx.json) ctx.out(`${JSON.stringify(response.release ? jsonOf(ReleaseSchema, response.release) : null)}\n`);
          else if (response.release) ctx.out(renderTable([response.release], releaseColumns));
        }),
      );
    leaf(releases, "delete", "stop announcing a version for a product and channel")
      .option("--product <product>", "product (default: the server's default product)")
      .option("--channel <channel>", "channel (default: the server's default channel)")
      .action(
        act(async (ctx, o) => {
          const response = await ctx.client.releases.deleteRelease(
            { product: (o.product as string | undefined) ?? "", channel: (o.channel as string | undefined) ?? "" },
            ctx.client.call(),
          );
          if (ctx.json) ctx.out(`${JSON.stringify({ deleted: response.deleted })}\n`);
          else if (response.deleted) ctx.out("deleted\n");
          if (!response.deleted) {
            ctx.err("fleetbeat: error: not found: no such release\n");
            return ExitCode.notFound;
          }
        }),
      );

    // ---- census
    const census = kit.group("census", "installations in the field, from update heartbeats (operator API)");
    leaf(census, "show", "active installations by version and OS (the default)", { isDefault: true })
      .option("--window <duration>", "installations seen within this window (default 24h)", duration)
      .option("--product <product>", "only this product")
      .action(
        act(async (ctx, o) => {
          const response = await ctx.client.census.getCensus(
            { product: (o.product as string | undefined) ?? "", ...(o.window !== undefined ? { window: durationFromMs(o.window as number) } : {}) },
            ctx.client.call(),
          );
          if (ctx.json) {
            ctx.out(`${JSON.stringify(jsonOf(GetCensusResponseSchema, response), null, 2)}\n`);
            return;
          }
          ctx.out(`${formatCount(response.installations)} installation(s) on ${formatCount(response.machines)} machine(s)\n\n`);
          ctx.out(renderTable(response.byVersion, bucketColumns("VERSION")));
          ctx.out("\n");
          ctx.out(renderTable(response.byOs, bucketColumns("OS")));
        }),
      );
    leaf(census, "series", "active installations per day and version")
      .option("--days <n>", "days back from today, UTC (default 90)", positiveInt("a number of days"))
      .option("--product <product>", "only this product")
      .action(
        act(async (ctx, o) => {
          const response = await ctx.client.census.getCensusSeries(
            { days: (o.days as number | undefined) ?? 0, product: (o.product as string | undefined) ?? "" },
            ctx.client.call(),
          );
          if (ctx.json) {
            ctx.out(`${JSON.stringify(jsonOf(GetCensusSeriesResponseSchema, response), null, 2)}\n`);
            return;
          }
          ctx.out(
            renderTable(response.days, [
              { header: "DATE", value: (d) => d.date },
              { header: "INSTALLATIONS", value: (d) => formatCount(d.installations), right: true },
              {
                header: "BY VERSION",
                value: (d) =>
                  d.byVersion
                    .slice(0, 5)
                    .map((b) => `${b.key || "?"}:${b.installations}`)
                    .join(" ") + (d.byVersion.length > 5 ? " …" : ""),
              },
            ]),
          );
        }),
      );

    // ---- events
    const events = kit.group("events", "tracked app events: list, export, follow (operator API)");
    const withEventFilter = (command: CliCommand): CliCommand =>
      command
        .option("--device <id>", "only this device id (sha256 hex, as the tracker sends it)")
        .option("--session <session>", "only this session")
        .option("--event <name>", "only this event name")
        .option("--client <clientId>", "only this client id")
        .option("--from <time>", "event time from (inclusive): ISO 8601, epoch seconds, or -2h for two hours ago")
        .option("--to <time>", "event time to (exclusive), same forms as --from");
    const eventFilter = (o: Record<string, unknown>, now: number): EventFilterInit => {
      const time = (flag: string): number | undefined => {
        const raw = o[flag] as string | undefined;
        if (raw === undefined) return undefined;
        const ms = parseTime(raw, now);
        if (ms === undefined) usage(`--${flag}: expected ISO 8601 (2026-01-31T12:00:00Z), epoch seconds or -<duration>, got ${JSON.stringify(raw)}`);
        return ms;
      };
      const from = time("from");
      const to = time("to");
      if (from !== undefined && to !== undefined && from >= to) usage("--from must be before --to");
      return {
        deviceId: (o.device as string | undefined) ?? "",
        session: (o.session as string | undefined) ?? "",
        event: (o.event as string | undefined) ?? "",
        clientId: (o.client as string | undefined) ?? "",
        ...(from !== undefined ? { from: timestampFromMs(from) } : {}),
        ...(to !== undefined ? { to: timestampFromMs(to) } : {}),
      };
    };

    withEventFilter(leaf(events, "list", "query stored events"))
      .option("--limit <n>", "at most this many (default 100; 0 for all, page by page)", positiveInt("a count", true), 100)
      .action(
        act(async (ctx, o) => {
          const limit = (o.limit as number) === 0 ? undefined : (o.limit as number);
          const items = ctx.client.listEvents(eventFilter(o, ctx.io.now()), limit);
          if (ctx.json) {
            await writeJsonArray(ctx, items, (e) => jsonOf(EventSchema, e));
            return;
          }
          const rows = await collectAll(items);
          ctx.out(renderTable(rows, eventColumns));
          ctx.err(`${formatCount(rows.length)} event(s)\n`);
        }),
      );

    withEventFilter(leaf(events, "export", "stream every matching event to a file (NDJSON or the collector's CSV)"))
      .addOption(new Option("--format <format>", "ndjson: one JSON object per line; csv: the original collector's layout").choices(["ndjson", "csv"]).default("ndjson"))
      .option("--out <file>", "write here (written as <file>.partial, renamed when complete); default stdout")
      .option("--no-progress", "no progress bar (it is only drawn when stderr is a terminal)")
      .action(
        act(async (ctx, o) => {
          const filter = eventFilter(o, ctx.io.now());
          const format = o.format === "csv" ? ExportFormat.CSV : ExportFormat.NDJSON;
          const out = o.out as string | undefined;
          const toStdout = out === undefined || out === "-";
          const showProgress = o.progress !== false && ctx.io.stderr.isTTY === true;
          let total: number | undefined;
          const unfiltered = Object.values(filter).every((value) => value === "" || value === undefined);
          if (showProgress && unfiltered) {
            // Everything is exported: the server's event count gives the bar its end
            // (a failure here only costs the percentage, never the export).
            total = await ctx.client.stats.getStats({}, ctx.client.call()).then((s) => Number(s.events), () => undefined);
          }
          const bar = new ProgressBar(ctx.io.stderr, { total, label: "exporting", now: ctx.io.now });
          const sink: ExportSink = toStdout ? streamSink(ctx.io.stdout) : await openFileSink(out);
          const started = ctx.io.now();
          let result;
          try {
            result = await ctx.client.exportEvents({ filter, format }, (chunk) => sink.write(chunk), (p) => showProgress && bar.update(p));
            await sink.commit();
          } catch (error) {
            bar.finish();
            await sink.abort();
            throw error;
          }
          if (showProgress) bar.update(result, true);
          bar.finish();
          const seconds = (ctx.io.now() - started) / 1000;
          const summary = { events: result.events, bytes: result.bytes, file: toStdout ? null : out, format: o.format, seconds };
          if (ctx.json && !toStdout) ctx.out(`${JSON.stringify(summary)}\n`);
          else {
            ctx.err(
              `exported ${formatCount(result.events)} event(s), ${formatBytes(result.bytes)}${toStdout ? "" : ` to ${out}`} in ${seconds.toFixed(1)} s\n`,
            );
          }
        }),
      );

    withEventFilter(leaf(events, "follow", "print new events as the server commits them, until interrupted (Ctrl-C)"))
      .option("--count <n>", "stop after this many events", positiveInt("a count"))
      .action(
        act(async (ctx, o) => {
          const abort = new AbortController();
          const onInterrupt = (): void => abort.abort();
          ctx.io.interrupt?.addEventListener("abort", onInterrupt, { once: true });
          const ownSignal = ctx.io.interrupt === undefined && ctx.io.stdout === process.stdout;
          if (ownSignal) process.once("SIGINT", onInterrupt);
          const limit = o.count as number | undefined;
          let seen = 0;
          try {
            if (!ctx.json) ctx.err("following new events (Ctrl-C to stop)…\n");
            for await (const event of ctx.client.followEvents(eventFilter(o, ctx.io.now()), abort.signal)) {
              if (ctx.json) ctx.out(`${JSON.stringify(jsonOf(EventSchema, event))}\n`);
              else ctx.out(followLine(event));
              seen++;
              if (limit !== undefined && seen >= limit) {
                abort.abort();
                break;
              }
            }
          } catch (error) {
            if (!abort.signal.aborted) throw error;
          } finally {
            ctx.io.interrupt?.removeEventListener("abort", onInterrupt);
            if (ownSignal) process.removeListener("SIGINT", onInterrupt);
          }
        }),
      );

    // ---- machines
    const machines = kit.group("machines", "one machine's update-heartbeat data: export, erase (operator API)");
    leaf(machines, "export <machineId>", "everything stored about one machine, as JSON")
      .option("--out <file>", "write here (written as <file>.partial, renamed when complete); default stdout")
      .action(
        act(async (ctx, o, machineId: string) => {
          const response = await ctx.client.machines.exportMachine({ machineId }, ctx.client.call());
          const text = `${JSON.stringify(jsonOf(ExportMachineResponseSchema, response), null, 2)}\n`;
          const out = o.out as string | undefined;
          if (out === undefined || out === "-") {
            ctx.out(text);
            return;
          }
          const sink = await openFileSink(out);
          try {
            await sink.write(Buffer.from(text, "utf8"));
            await sink.commit();
          } catch (error) {
            await sink.abort();
            throw error;
          }
          ctx.err(
            `exported machine ${machineId}: ${response.installations.length} installation(s), ${response.heartbeats.length} heartbeat(s), ${response.daily.length} daily record(s) to ${out}\n`,
          );
        }),
      );
    leaf(machines, "erase <machineId>", "erase everything stored about one machine")
      .option("--yes", "really erase (required)")
      .action(
        act(async (ctx, o, machineId: string) => {
          if (o.yes !== true) usage(`erasing cannot be undone: add --yes to erase machine ${machineId}`);
          const response = await ctx.client.machines.eraseMachine({ machineId }, ctx.client.call());
          if (ctx.json) {
            ctx.out(`${JSON.stringify(jsonOf(EraseMachineResponseSchema, response))}\n`);
            return;
          }
          ctx.out(
            `erased machine ${machineId}: ${response.installationsDeleted} installation(s), ${response.heartbeatsDeleted} heartbeat(s), ${response.dailyDeleted} daily record(s)\n`,
          );
        }),
      );

    // ---- keys (`keys create` against the database belongs to the server's group)
    const keys = kit.group("keys", "operator API keys");
    leaf(keys, "list", "list operator keys with their last use (needs an admin key)")
      .option("--all", "include revoked keys")
      .action(
        act(async (ctx, o) => {
          const response = await ctx.client.keys.listKeys({ includeRevoked: o.all === true }, ctx.client.call());
          if (ctx.json) ctx.out(`${JSON.stringify(response.keys.map((k) => jsonOf(ApiKeySchema, k)), null, 2)}\n`);
          else ctx.out(renderTable(response.keys, keyColumns));
        }),
      );
    leaf(keys, "revoke <id>", "revoke an operator key at once (needs an admin key)")
      .action(
        act(async (ctx, _o, id: string) => {
          const response = await ctx.client.keys.revokeKey({ id }, ctx.client.call());
          if (ctx.json) ctx.out(`${JSON.stringify(response.key ? jsonOf(ApiKeySchema, response.key) : null)}\n`);
          else ctx.out(`revoked key ${id} (${response.key?.name ?? ""}) at ${formatTime(response.key?.revokedAt)}\n`);
        }),
      );
    leaf(keys, "issue", "create an operator key through the API (needs an admin key) and print it once")
      .requiredOption("--name <name>", "a name to recognise the key by")
      .addOption(new Option("--scope <scope>", "read (every read method) or admin (everything)").choices(["read", "admin"]).makeOptionMandatory())
      .action(
        act(async (ctx, o) => {
          const response = await ctx.client.keys.createKey(
            { name: o.name as string, scope: o.scope === "admin" ? KeyScope.ADMIN : KeyScope.READ },
            ctx.client.call(),
          );
          if (ctx.json) {
            ctx.out(`${JSON.stringify(jsonOf(CreateKeyResponseSchema, response))}\n`);
            return;
          }
          ctx.err(
            `Created operator key ${JSON.stringify(response.key?.name ?? "")} (id ${response.key?.id ?? "?"}, scope ${scopeName(response.key?.scope ?? KeyScope.UNSPECIFIED)}).\n` +
              "This is the only time the key is shown: only its hash is stored.\n",
          );
          ctx.out(`${response.secret}\n`);
        }),
      );

    // ---- stats
    const stats = kit.group("stats", "server-wide figures: counts, ingest rates, database size (operator API)");
    stats
      .option("--server <url>", "fleetbeat server URL (env FLEETBEAT_SERVER, config \"server\"; default http://127.0.0.1:6011)")
      .option("--key <key>", "operator API key (env FLEETBEAT_KEY, config \"key\")")
      .option("--config <file>", "config file (env FLEETBEAT_CONFIG; default ~/.config/fleetbeat/cli.json)")
      .option("--json", "print JSON (proto3 JSON names) instead of a table")
      .action(
        act(async (ctx) => {
          const s = await ctx.client.stats.getStats({}, ctx.client.call());
          if (ctx.json) {
            ctx.out(`${JSON.stringify(jsonOf(GetStatsResponseSchema, s), null, 2)}\n`);
            return;
          }
          const uptimeSeconds = s.uptime ? Number(s.uptime.seconds) : 0;
          ctx.out(
            renderFields([
              ["server version", s.version],
              ["uptime", formatUptime(uptimeSeconds)],
              ["database", `${s.databaseDialect}, ${formatBytes(s.databaseBytes)}`],
              ["devices", `${formatCount(s.devices)} (${formatCount(s.devicesOnline)} online)`],
              ["commands pending", formatCount(s.commandsPending)],
              ["events", formatCount(s.events)],
              ["installations", formatCount(s.installations)],
              ["events/s (1 min)", s.eventsPerSecond.toFixed(1)],
              ["heartbeats/s (1 min)", s.heartbeatsPerSecond.toFixed(1)],
            ]),
          );
        }),
      );
  };
}

function followLine(e: Event): string {
  const at = new Date(Number(e.at) * 1000).toISOString().replace(/\.000Z$/, "Z");
  const user = e.userId === undefined ? "" : ` user=${e.userId}`;
  const params = e.parameters === "" ? "" : ` ${e.parameters}`;
  return `${at} ${e.event} device=${shorten(e.deviceId, 12)} session=${shorten(e.session, 12)} nr=${e.nr}${user}${params}`.replace(/[\r\n]/g, " ") + "\n";
}

function formatUptime(seconds: number): string {
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return d > 0 ? `${d}d ${h}h ${m}m` : h > 0 ? `${h}h ${m}m` : m > 0 ? `${m}m ${s}s` : `${s}s`;
}

function parseId(raw: string): bigint {
  try {
    return commandId(raw);
  } catch (error) {
    return usage((error as Error).message);
  }
}

/** Prints a campaign; with `wait`, follows it until it ends (exit code 5 unless it completed without a failure). */
async function reportCampaign(ctx: RunContext, started: Campaign, wait: boolean, timeoutMs: number): Promise<ExitCodeValue> {
  if (!wait) {
    if (ctx.json) ctx.out(`${JSON.stringify(jsonOf(CampaignSchema, started), null, 2)}\n`);
    else {
      ctx.out(campaignFields(started));
      ctx.err(`campaign ${started.id} started for ${campaignTarget(started)} (~${formatCount(Number(started.estimated))} devices); follow it with \`fleetbeat campaigns show ${started.id}\`\n`);
    }
    return ExitCode.ok;
  }
  if (!ctx.json) ctx.err(`campaign ${started.id} for ${campaignTarget(started)}: waiting for it to end…\n`);
  let last = "";
  const final = await ctx.client.waitCampaign(started.id, timeoutMs, (c) => {
    const line = `${campaignStateName(c.state)}: reached ${campaignProgress(c)}, ${c.succeeded} succeeded, ${c.failed} failed`;
    if (!ctx.json && line !== last) ctx.err(`${line}\n`);
    last = line;
  }, 1_000, ctx.io.interrupt);
  ctx.out(ctx.json ? `${JSON.stringify(jsonOf(CampaignSchema, final), null, 2)}\n` : campaignFields(final));
  if (final.state === CampaignState.RUNNING) ctx.err(`campaign ${final.id} still running at the timeout\n`);
  return final.state === CampaignState.COMPLETED && final.failed === 0n ? ExitCode.ok : ExitCode.commandUnsuccessful;
}

/** Waits for the commands, prints each as it becomes final, and says which did not succeed. */
async function waitAndReport(ctx: RunContext, ids: readonly bigint[], timeoutMs: number | undefined): Promise<ExitCodeValue> {
  const finished = new Map<bigint, Command>();
  for await (const command of ctx.client.waitCommands(ids, timeoutMs)) {
    finished.set(command.id, command);
    if (ctx.json) ctx.out(`${JSON.stringify(jsonOf(CommandSchema, command))}\n`);
    else {
      const result = command.state === CommandState.SUCCEEDED || command.state === CommandState.FAILED ? ` (return ${command.returnCode}${command.reason ? `: ${command.reason}` : ""})` : "";
      ctx.out(`command ${command.id} on ${command.deviceId}: ${stateName(command.state)}${result}\n`);
    }
  }
  const pending = ids.filter((id) => !finished.has(id));
  const unsuccessful = [...finished.values()].filter((c) => isFinal(c.state) && c.state !== CommandState.SUCCEEDED);
  if (pending.length > 0) ctx.err(`still pending at the timeout: ${pending.join(", ")}\n`);
  if (unsuccessful.length > 0) ctx.err(`did not succeed: ${unsuccessful.map((c) => `${c.id} (${stateName(c.state)})`).join(", ")}\n`);
  return pending.length > 0 || unsuccessful.length > 0 ? ExitCode.commandUnsuccessful : ExitCode.ok;
}

/** The command groups writing to the process's own streams (what cli/fleetbeat.ts registers). */
export const registerOperatorCommands = operatorCommandGroups();
