// `fleetbeat stats`: server-wide figures: counts, ingest rates, database size;
// `--series`: events and heartbeats per step over a recent window (operator API).
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { GetStatsResponseSchema, GetStatsSeriesResponseSchema } from "../gen/fleetbeat/operator/v1/stats_pb.js";
import { formatBytes, formatCount, formatTime, renderFields, renderTable } from "../clients/operator/format.js";
import { duration, usage } from "./options.js";
import type { CliKit } from "./program.js";
import { type OperatorKit, type RunContext, jsonOf, withConnectionOptions } from "./operator.js";

function formatUptime(seconds: number): string {
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return d > 0 ? `${d}d ${h}h ${m}m` : h > 0 ? `${h}h ${m}m` : m > 0 ? `${m}m ${s}s` : `${s}s`;
}

/** `stats --series`: one row per step, oldest first; the last is the step under way. */
async function printSeries(ctx: RunContext, options: Record<string, unknown>): Promise<void> {
  const response = await ctx.client.stats.getStatsSeries(
    {
      ...(options.window !== undefined ? { window: durationFromMs(options.window as number) } : {}),
      ...(options.step !== undefined ? { step: durationFromMs(options.step as number) } : {}),
    },
    ctx.client.call(),
  );
  if (ctx.json) {
    ctx.out(`${JSON.stringify(jsonOf(GetStatsSeriesResponseSchema, response), null, 2)}\n`);
    return;
  }
  ctx.out(
    renderTable(response.points, [
      { header: "START", value: (p) => formatTime(p.start) },
      { header: "EVENTS", value: (p) => formatCount(p.events), right: true },
      { header: "HEARTBEATS", value: (p) => formatCount(p.heartbeats), right: true },
    ]),
  );
}

export function registerStatsCommands(kit: CliKit, op: OperatorKit): void {
  const { act } = op;
  const stats = kit.group("stats", "server-wide figures: counts, ingest rates, database size (operator API)");
  withConnectionOptions(stats)
    .option("--series", "events stored and heartbeats received per step instead, oldest first (the last step is the one under way)")
    .option("--window <duration>", "with --series: how far back (default 1h, at most 24h)", duration)
    .option("--step <duration>", "with --series: the step, whole minutes (default 1m)", duration)
    .action(
      act(async (ctx, o) => {
        if (o.series === true) return printSeries(ctx, o);
        if (o.window !== undefined || o.step !== undefined) usage("--window and --step go with --series");
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
            ["devices never seen", formatCount(s.devicesNeverSeen)],
            ["commands pending", formatCount(s.commandsPending)],
            ["events", formatCount(s.events)],
            ["installations", formatCount(s.installations)],
            ["events/s (1 min)", s.eventsPerSecond.toFixed(1)],
            ["heartbeats/s (1 min)", s.heartbeatsPerSecond.toFixed(1)],
          ]),
        );
      }),
    );
}
