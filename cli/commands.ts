// `fleetbeat commands …`: commands for endpoint agents (operator API); a command for
// a label or every device starts a campaign (cli/campaigns.ts).
import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Option } from "commander";
import { type Command, CommandSchema, CommandState } from "../gen/fleetbeat/operator/v1/commands_pb.js";
import type { CommandTargetInit } from "../clients/operator/client.js";
import { ExitCode, type ExitCodeValue } from "../clients/operator/exit-codes.js";
import { type Column, formatCount, formatTime, parseTime, renderTable } from "../clients/operator/format.js";
import { reportCampaign } from "./campaigns.js";
import { collect, commandId, duration, listItems, percent, positiveInt, usage } from "./options.js";
import type { CliKit } from "./program.js";
import { type OperatorKit, type RunContext, collectAll, jsonOf, shorten, writeJsonArray } from "./operator.js";

export const commandStates: Record<string, CommandState> = {
  queued: CommandState.QUEUED,
  delivered: CommandState.DELIVERED,
  succeeded: CommandState.SUCCEEDED,
  failed: CommandState.FAILED,
  expired: CommandState.EXPIRED,
  cancelled: CommandState.CANCELLED,
};

export function stateName(state: CommandState): string {
  return Object.entries(commandStates).find(([, value]) => value === state)?.[0] ?? "unknown";
}

function isFinal(state: CommandState): boolean {
  return state === CommandState.SUCCEEDED || state === CommandState.FAILED || state === CommandState.EXPIRED || state === CommandState.CANCELLED;
}

export const commandColumns: Column<Command>[] = [
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


/** Waits for the commands, prints each as it becomes final, and says which did not succeed. */
export async function waitAndReport(ctx: RunContext, ids: readonly bigint[], timeoutMs: number | undefined): Promise<ExitCodeValue> {
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

export function registerCommandsCommands(kit: CliKit, op: OperatorKit): void {
  const { leaf, act } = op;
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
}
