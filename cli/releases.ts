// `fleetbeat releases …`: newest versions offered to update heartbeats (operator API).
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  type InstallationCounts,
  type Release,
  type ReleaseAuditEntry,
  type ReleaseRollback,
  type YankedVersion,
  CancelRollbackResponseSchema,
  ListReleaseControlsResponseSchema,
  ReleaseAuditActorKind,
  ReleaseAuditEntrySchema,
  ReleaseSchema,
  RollbackResponseSchema,
  UnyankVersionResponseSchema,
  YankVersionResponseSchema,
} from "../gen/fleetbeat/operator/v1/releases_pb.js";
import { ExitCode } from "../clients/operator/exit-codes.js";
import { type Column, formatCount, formatTime, renderTable } from "../clients/operator/format.js";
import { parseTime, positiveInt, usage } from "./options.js";
import type { CliKit } from "./program.js";
import { collectAll, destructive, moreHint, pagedListing, pagingOf, requireYes, type OperatorKit, jsonOf, writeJsonArray } from "./operator.js";

const releaseColumns: Column<Release>[] = [
  { header: "PRODUCT", value: (r) => r.product },
  { header: "CHANNEL", value: (r) => r.channel },
  { header: "VERSION", value: (r) => r.version },
  { header: "ROLLOUT", value: (r) => `${r.rolloutPercent}%`, right: true },
  { header: "PREVIOUS", value: (r) => r.previousVersion || "-" },
  { header: "UPDATED", value: (r) => formatTime(r.updatedAt) },
];
/** "2.1 25%", or "-" when there is no release on that side of the change. */
function releaseState(release: Release | undefined): string {
  return release ? `${release.version} ${release.rolloutPercent}%` : "-";
}

/** What a yank or rollback entry changed, from its detail (`2.1`, `1.2 → 1.0`); "" when it says nothing of the kind. */
function controlChange(entry: ReleaseAuditEntry): string {
  if (entry.detailJson === "") return "";
  try {
    const detail = JSON.parse(entry.detailJson) as { version?: unknown; fromVersion?: unknown; toVersion?: unknown };
    if (typeof detail.fromVersion === "string" && typeof detail.toVersion === "string") return `${detail.fromVersion} → ${detail.toVersion}`;
    if (typeof detail.version === "string") return detail.version;
  } catch {
    // Not JSON: shown as it is.
    return entry.detailJson;
  }
  return "";
}

/** "12 installations on it (5 active in the last 24 h)". */
function countsText(counts: InstallationCounts | undefined, what: string): string {
  const all = Number(counts?.installations ?? 0n);
  const active = Number(counts?.activeInstallations ?? 0n);
  return `${formatCount(all)} installation${all === 1 ? "" : "s"} ${what} (${formatCount(active)} active in the last 24 h)`;
}

/** The operator key's name; a gate or the server itself by kind (and name). */
function actorText(entry: Pick<ReleaseAuditEntry, "actor">): string {
  const actor = entry.actor;
  if (!actor) return "-";
  switch (actor.kind) {
    case ReleaseAuditActorKind.OPERATOR:
      return actor.name;
    case ReleaseAuditActorKind.GATE:
      return actor.name ? `gate ${actor.name}` : "gate";
    case ReleaseAuditActorKind.SYSTEM:
      return actor.name ? `system ${actor.name}` : "system";
    default:
      return actor.name || "-";
  }
}

const auditColumns: Column<ReleaseAuditEntry>[] = [
  { header: "TIME", value: (e) => formatTime(e.at) },
  { header: "PRODUCT/CHANNEL", value: (e) => `${e.product}/${e.channel || "*"}` },
  { header: "ACTION", value: (e) => e.action },
  { header: "ACTOR", value: actorText },
  { header: "CHANGE", value: (e) => (!e.before && !e.after && controlChange(e)) || `${releaseState(e.before)} → ${releaseState(e.after)}` },
];

const yankColumns: Column<YankedVersion>[] = [
  { header: "PRODUCT", value: (y) => y.product },
  { header: "YANKED", value: (y) => y.version },
  { header: "SINCE", value: (y) => formatTime(y.yankedAt) },
  { header: "BY", value: actorText },
];

const rollbackColumns: Column<ReleaseRollback>[] = [
  { header: "PRODUCT", value: (r) => r.product },
  { header: "CHANNEL", value: (r) => r.channel || "*" },
  { header: "FROM", value: (r) => r.fromVersion },
  { header: "TO", value: (r) => r.toVersion },
  { header: "SINCE", value: (r) => formatTime(r.createdAt) },
  { header: "BY", value: actorText },
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
  pagedListing(leaf(releases, "audit", "list the release audit log, newest first: who changed which release when, before → after"))
    .option("--product <product>", "only this product")
    .option("--channel <channel>", "only this channel")
    .option("--since <time>", "only entries at or after this time (ISO 8601, epoch seconds or -<duration>, e.g. -7d)")
    .option("--limit <n>", "at most this many (default 100; 0 for all, page by page)", positiveInt("a count", true), 100)
    .action(
      act(async (ctx, o) => {
        const rawSince = o.since as string | undefined;
        const since = rawSince === undefined ? undefined : parseTime(rawSince, ctx.io.now());
        if (rawSince !== undefined && since === undefined) {
          usage(`--since: expected ISO 8601 (2026-01-31T12:00:00Z), epoch seconds or -<duration>, got ${JSON.stringify(rawSince)}`);
        }
        const filter = {
          product: (o.product as string | undefined) ?? "",
          channel: (o.channel as string | undefined) ?? "",
          ...(since !== undefined ? { since: timestampFromMs(since) } : {}),
        };
        const limit = (o.limit as number) === 0 ? undefined : (o.limit as number);
        const paging = pagingOf(o);
        const items = ctx.client.listReleaseAudit(filter, limit, paging);
        if (ctx.json) {
          await writeJsonArray(ctx, items, (e) => jsonOf(ReleaseAuditEntrySchema, e));
          moreHint(ctx, paging);
          return;
        }
        const rows = await collectAll(items);
        ctx.out(renderTable(rows, auditColumns));
        ctx.err(`${formatCount(rows.length)} entr${rows.length === 1 ? "y" : "ies"}\n`);
        moreHint(ctx, paging);
      }),
    );
  leaf(releases, "yank <product> <version>", "stop offering a version of a product at once, on every channel (--undo: offer it again)")
    .option("--undo", "unyank: offer the version again")
    .action(
      act(async (ctx, o, product: string, version: string) => {
        if (o.undo === true) {
          const response = await ctx.client.releases.unyankVersion({ product, version }, ctx.client.call());
          if (ctx.json) ctx.out(`${JSON.stringify(jsonOf(UnyankVersionResponseSchema, response))}\n`);
          else if (response.unyanked) ctx.out(`unyanked ${product} ${version}: offered again; ${countsText(response.affected, "on it")}\n`);
          if (!response.unyanked) {
            ctx.err(`fleetbeat: error: not found: ${product} ${version} is not yanked\n`);
            return ExitCode.notFound;
          }
          return;
        }
        const response = await ctx.client.releases.yankVersion({ product, version }, ctx.client.call());
        if (ctx.json) {
          ctx.out(`${JSON.stringify(jsonOf(YankVersionResponseSchema, response))}\n`);
          return;
        }
        const yanked = response.yanked;
        ctx.out(
          `${response.alreadyYanked ? "already yanked" : "yanked"} ${yanked?.product ?? product} ${yanked?.version ?? version}: ${countsText(response.affected, "on it")}` +
            `${response.channels.length > 0 ? `; no longer offered on ${response.channels.join(", ")}` : ""}\n`,
        );
      }),
    );
  leaf(releases, "rollback <product>", "send installations on --from to the lower --to (a downgrade) (--cancel: end the rollback)")
    .requiredOption("--from <version>", "the version installations go away from")
    .option("--to <version>", "the lower version they install (not with --cancel)")
    .option("--channel <channel>", "only installations on this channel (default: every channel)")
    .option("--cancel", "end the rollback of --from (and --channel)")
    .action(
      act(async (ctx, o, product: string) => {
        const fromVersion = o.from as string;
        const channel = (o.channel as string | undefined) ?? "";
        const where = `${product}${channel === "" ? "" : `/${channel}`}`;
        if (o.cancel === true) {
          if (o.to !== undefined) usage("--cancel takes no --to");
          const response = await ctx.client.releases.cancelRollback({ product, fromVersion, channel }, ctx.client.call());
          if (ctx.json) ctx.out(`${JSON.stringify(jsonOf(CancelRollbackResponseSchema, response))}\n`);
          else if (response.cancelled) ctx.out(`cancelled the rollback of ${where} ${fromVersion}: ${countsText(response.affected, "on it")}\n`);
          if (!response.cancelled) {
            ctx.err(`fleetbeat: error: not found: no rollback of ${where} ${fromVersion}\n`);
            return ExitCode.notFound;
          }
          return;
        }
        const toVersion = o.to as string | undefined;
        if (toVersion === undefined) usage("rollback needs --to <version> (or --cancel)");
        const response = await ctx.client.releases.rollback({ product, fromVersion, toVersion, channel }, ctx.client.call());
        if (ctx.json) {
          ctx.out(`${JSON.stringify(jsonOf(RollbackResponseSchema, response))}\n`);
          return;
        }
        const replaced = response.replacedToVersion === "" ? "" : ` (was → ${response.replacedToVersion})`;
        ctx.out(`rollback ${where} ${fromVersion} → ${toVersion}${replaced}: ${countsText(response.affected, "told to downgrade")}\n`);
      }),
    );
  leaf(releases, "controls", "list yanked versions and active rollbacks")
    .option("--product <product>", "only this product")
    .action(
      act(async (ctx, o) => {
        const response = await ctx.client.releases.listReleaseControls({ product: (o.product as string | undefined) ?? "" }, ctx.client.call());
        if (ctx.json) {
          ctx.out(`${JSON.stringify(jsonOf(ListReleaseControlsResponseSchema, response), null, 2)}\n`);
          return;
        }
        ctx.out(renderTable(response.yanked, yankColumns));
        ctx.out("\n");
        ctx.out(renderTable(response.rollbacks, rollbackColumns));
      }),
    );
  destructive(leaf(releases, "delete", "stop announcing a version for a product and channel"), "delete the release")
    .option("--product <product>", "product (default: the server's default product)")
    .option("--channel <channel>", "channel (default: the server's default channel)")
    .action(
      act(async (ctx, o) => {
        requireYes(o, "delete the release");
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
