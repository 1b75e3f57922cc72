// `fleetbeat releases …`: newest versions offered to update heartbeats (operator API).
import { type Release, ReleaseSchema } from "../gen/fleetbeat/operator/v1/releases_pb.js";
import { ExitCode } from "../clients/operator/exit-codes.js";
import { type Column, formatTime, renderTable } from "../clients/operator/format.js";
import { positiveInt, usage } from "./options.js";
import type { CliKit } from "./program.js";
import { type OperatorKit, jsonOf } from "./operator.js";

const releaseColumns: Column<Release>[] = [
  { header: "PRODUCT", value: (r) => r.product },
  { header: "CHANNEL", value: (r) => r.channel },
  { header: "VERSION", value: (r) => r.version },
  { header: "ROLLOUT", value: (r) => `${r.rolloutPercent}%`, right: true },
  { header: "PREVIOUS", value: (r) => r.previousVersion || "-" },
  { header: "UPDATED", value: (r) => formatTime(r.updatedAt) },
];
export function registerReleasesCommands(kit: CliKit, op: OperatorKit): void {
  const { leaf, act } = op;
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
}
