// `fleetbeat census …`: installations in the field, from update heartbeats (operator API).
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { type CensusBucket, GetCensusResponseSchema, GetCensusSeriesResponseSchema } from "../gen/fleetbeat/operator/v1/census_pb.js";
import { type Column, formatCount, renderTable } from "../clients/operator/format.js";
import { duration, positiveInt } from "./options.js";
import type { CliKit } from "./program.js";
import { type OperatorKit, jsonOf } from "./operator.js";

const bucketColumns = (title: string): Column<CensusBucket>[] => [
  { header: title, value: (b) => b.key || "(unknown)" },
  { header: "INSTALLATIONS", value: (b) => formatCount(b.installations), right: true },
];
export function registerCensusCommands(kit: CliKit, op: OperatorKit): void {
  const { leaf, act } = op;
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
}
