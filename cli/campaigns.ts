// `fleetbeat campaigns …`: commands for a label or every device, given out in chunks (operator API).
import { durationMs } from "@bufbuild/protobuf/wkt";
import { Option } from "commander";
import { type Campaign, CampaignSchema, CampaignState } from "../gen/fleetbeat/operator/v1/commands_pb.js";
import { ExitCode, type ExitCodeValue } from "../clients/operator/exit-codes.js";
import { type Column, formatCount, formatTime, renderFields, renderTable } from "../clients/operator/format.js";
import { commandId, duration, positiveInt, usage } from "./options.js";
import type { CliKit } from "./program.js";
import { type OperatorKit, type RunContext, collectAll, jsonOf, writeJsonArray } from "./operator.js";

export const campaignStates: Record<string, CampaignState> = {
  running: CampaignState.RUNNING,
  completed: CampaignState.COMPLETED,
  aborted: CampaignState.ABORTED,
  cancelled: CampaignState.CANCELLED,
  expired: CampaignState.EXPIRED,
};

export function campaignStateName(state: CampaignState): string {
  return Object.entries(campaignStates).find(([, value]) => value === state)?.[0] ?? "unknown";
}

export function campaignTarget(c: Campaign): string {
  const t = c.target?.target;
  return t?.case === "label" ? `label ${t.value}` : t?.case === "allDevices" ? "all devices" : "-";
}

export function campaignProgress(c: Campaign): string {
  return `${formatCount(Number(c.targeted))}/${c.materialised ? "" : "~"}${formatCount(Number(c.estimated))}`;
}

export function campaignFields(c: Campaign): string {
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

export const campaignColumns: Column<Campaign>[] = [
  { header: "ID", value: (c) => c.id.toString(), right: true },
  { header: "STATE", value: (c) => campaignStateName(c.state) },
  { header: "TARGET", value: (c) => campaignTarget(c) },
  { header: "TYPE", value: (c) => String(c.type), right: true },
  { header: "REACHED", value: (c) => campaignProgress(c), right: true },
  { header: "OK", value: (c) => formatCount(Number(c.succeeded)), right: true },
  { header: "FAILED", value: (c) => formatCount(Number(c.failed)), right: true },
  { header: "CREATED", value: (c) => formatTime(c.createdAt) },
];

function parseId(raw: string): bigint {
  try {
    return commandId(raw);
  } catch (error) {
    return usage((error as Error).message);
  }
}

/** Prints a campaign; with `wait`, follows it until it ends (exit code 5 unless it completed without a failure). */
export async function reportCampaign(ctx: RunContext, started: Campaign, wait: boolean, timeoutMs: number): Promise<ExitCodeValue> {
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
export function registerCampaignsCommands(kit: CliKit, op: OperatorKit): void {
  const { leaf, act } = op;
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
}
