// `fleetbeat stats`: server-wide figures: counts, ingest rates, database size (operator API).
import { GetStatsResponseSchema } from "../gen/fleetbeat/operator/v1/stats_pb.js";
import { formatBytes, formatCount, renderFields } from "../clients/operator/format.js";
import type { CliKit } from "./program.js";
import { type OperatorKit, jsonOf, withConnectionOptions } from "./operator.js";

function formatUptime(seconds: number): string {
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return d > 0 ? `${d}d ${h}h ${m}m` : h > 0 ? `${h}h ${m}m` : m > 0 ? `${m}m ${s}s` : `${s}s`;
}
export function registerStatsCommands(kit: CliKit, op: OperatorKit): void {
  const { act } = op;
  const stats = kit.group("stats", "server-wide figures: counts, ingest rates, database size (operator API)");
  withConnectionOptions(stats)
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
