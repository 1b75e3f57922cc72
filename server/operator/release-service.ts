// ReleaseService: the newest version per product and channel, with an optional
// staged rollout, answered to update heartbeats (server/heartbeat/).
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import {
  ReleaseAuditActorKind,
  type InstallationCountsSchema,
  type ReleaseAuditActorSchema,
  type ReleaseAuditEntrySchema,
  type ReleaseRollbackSchema,
  type ReleaseSchema,
  type ReleaseService,
  type YankedVersionSchema,
} from "../../gen/fleetbeat/operator/v1/releases_pb.js";
import { operatorKeyKey } from "../core/context.js";
import type { ServiceDeps } from "../core/deps.js";
import { FleetbeatError } from "../core/errors.js";
import { fieldLimits, releaseCacheFor } from "../heartbeat/service.js";
import { compareVersions, isWellFormedVersion } from "../../shared/version.js";
import type { WriteOp, WriteResultOf } from "../store/store.js";
import type { ReleaseAuditActor, ReleaseAuditPosition, ReleaseAuditRow, ReleaseRow, RollbackRow, YankRow } from "../store/heartbeat.js";
import { pageSize } from "./device-service.js";

export function releaseMessage(row: ReleaseRow): MessageInitShape<typeof ReleaseSchema> {
  return {
    product: row.product,
    channel: row.channel,
    version: row.version,
    rolloutPercent: row.rolloutPercent,
    previousVersion: row.previousVersion,
    updatedAt: timestampFromMs(row.updatedAt),
  };
}

const actorKindOf: Record<ReleaseAuditActor["kind"], ReleaseAuditActorKind> = {
  operator: ReleaseAuditActorKind.OPERATOR,
  gate: ReleaseAuditActorKind.GATE,
  system: ReleaseAuditActorKind.SYSTEM,
};

function actorMessage(actor: ReleaseAuditActor): MessageInitShape<typeof ReleaseAuditActorSchema> {
  return { kind: actorKindOf[actor.kind] ?? ReleaseAuditActorKind.UNSPECIFIED, keyId: actor.id, name: actor.name };
}

export function yankedVersionMessage(row: YankRow): MessageInitShape<typeof YankedVersionSchema> {
  return { product: row.product, version: row.version, yankedAt: timestampFromMs(row.yankedAt), actor: actorMessage(row.actor) };
}

export function rollbackMessage(row: RollbackRow): MessageInitShape<typeof ReleaseRollbackSchema> {
  return {
    product: row.product,
    fromVersion: row.fromVersion,
    toVersion: row.toVersion,
    channel: row.channel,
    createdAt: timestampFromMs(row.createdAt),
    actor: actorMessage(row.actor),
  };
}

/** "Active" in the counts of a yank or rollback: seen within the census's default window. */
const ACTIVE_WINDOW_MS = 24 * 3_600_000;

export function releaseAuditEntryMessage(row: ReleaseAuditRow): MessageInitShape<typeof ReleaseAuditEntrySchema> {
  return {
    id: BigInt(row.id),
    at: timestampFromMs(row.at),
    product: row.product,
    channel: row.channel,
    action: row.action,
    actor: actorMessage({ kind: row.actorKind, id: row.actorId, name: row.actorName }),
    ...(row.before ? { before: releaseMessage(row.before) } : {}),
    ...(row.after ? { after: releaseMessage(row.after) } : {}),
    detailJson: row.detailJson ?? "",
  };
}

/** The operator key that authorised the call (the guard recorded it, auth.ts), as the audit log's actor. */
function operatorActor(context: HandlerContext): ReleaseAuditActor {
  const key = context.values.get(operatorKeyKey);
  if (key === undefined) throw new FleetbeatError("OPERATOR_KEY_REQUIRED");
  return { kind: "operator", id: key.id, name: key.name };
}

/** Keyset paging, newest first: a page token is the (at, id) of the last entry of the page before. */
function auditPositionOf(pageToken: string): ReleaseAuditPosition | undefined {
  if (pageToken === "") return undefined;
  const match = /^(\d{1,16})\.(\d{1,16})$/.exec(pageToken);
  const at = Number(match?.[1]);
  const id = Number(match?.[2]);
  if (!match || !Number.isSafeInteger(at) || !Number.isSafeInteger(id)) throw new FleetbeatError("BAD_REQUEST", "invalid page_token");
  return { at, id };
}

function checkName(field: "product" | "channel", value: string): void {
  if (value.length > fieldLimits[field]) throw new FleetbeatError("FIELD_TOO_LONG", `${field} is longer than ${fieldLimits[field]} characters`);
}

/** A version named by the operator: trimmed, present, not too long, a version. */
function versionOf(field: string, text: string): string {
  const version = text.trim();
  if (version === "") throw new FleetbeatError("MISSING_FIELD", field);
  if (version.length > fieldLimits.versionInfo) throw new FleetbeatError("FIELD_TOO_LONG", `${field} is longer than ${fieldLimits.versionInfo} characters`);
  if (!isWellFormedVersion(version)) {
    throw new FleetbeatError("BAD_REQUEST", `${field} "${version}" is not a version (dotted numbers, optionally SemVer -prerelease/+build)`);
  }
  return version;
}

export function createReleaseService(deps: ServiceDeps): ServiceImpl<typeof ReleaseService> {
  const config = deps.config.heartbeat;
  const cache = releaseCacheFor(deps);
  const productOf = (requested: string): string => {
    const product = requested || config.defaultProduct;
    checkName("product", product);
    return product;
  };
  /** Commits a change of releases or controls; this server's cache forgets what it read at once, committed or not. */
  const change = async <Op extends WriteOp>(op: Op): Promise<WriteResultOf<Op>> => {
    try {
      return await deps.batcher.submit(op);
    } finally {
      cache.invalidate();
    }
  };
  /** Installations of the product (on the channel, when given) whose last heartbeat reported `version` (compared as versions). */
  const affected = async (product: string, version: string, channel?: string): Promise<MessageInitShape<typeof InstallationCountsSchema>> => {
    let installations = 0;
    let active = 0;
    for (const row of await deps.store.heartbeat.versionCounts(product, channel, deps.now() - ACTIVE_WINDOW_MS)) {
      if (row.version !== version && compareVersions(row.version, version) !== 0) continue;
      installations += row.installations;
      active += row.active;
    }
    return { installations: BigInt(installations), activeInstallations: BigInt(active) };
  };
  return {
    async setRelease(request, context) {
      const product = request.product || config.defaultProduct;
      const channel = request.channel || config.defaultChannel;
      checkName("product", product);
      checkName("channel", channel);
      const version = request.version.trim();
      if (version === "") throw new FleetbeatError("MISSING_FIELD", "version");
      if (version.length > fieldLimits.versionInfo) throw new FleetbeatError("FIELD_TOO_LONG", `version is longer than ${fieldLimits.versionInfo} characters`);
      if (!isWellFormedVersion(version)) {
        throw new FleetbeatError("BAD_REQUEST", `"${version}" is not a version (dotted numbers, optionally SemVer -prerelease/+build)`);
      }
      if (request.rolloutPercent > 100) throw new FleetbeatError("BAD_REQUEST", "rolloutPercent must be 0–100 (0 means 100)");
      const rolloutPercent = request.rolloutPercent === 0 ? 100 : request.rolloutPercent;
      try {
        const result = await deps.batcher.submit({
          kind: "setRelease",
          product,
          channel,
          version,
          rolloutPercent,
          at: deps.now(),
          actor: operatorActor(context),
        });
        return { release: releaseMessage(result.release) };
      } finally {
        cache.invalidate();
      }
    },

    async listReleases(request) {
      const rows = await deps.store.heartbeat.listReleases(request.product === "" ? undefined : request.product);
      return { releases: rows.map(releaseMessage) };
    },

    async listReleaseAudit(request) {
      const before = auditPositionOf(request.pageToken);
      const limit = pageSize(request.pageSize);
      const rows = await deps.store.heartbeat.listReleaseAudit({
        ...(request.product !== "" ? { product: request.product } : {}),
        ...(request.channel !== "" ? { channel: request.channel } : {}),
        ...(request.since ? { since: timestampMs(request.since) } : {}),
        ...(before ? { before } : {}),
        limit: limit + 1,
      });
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return { entries: page.map(releaseAuditEntryMessage), nextPageToken: rows.length > limit && last ? `${last.at}.${last.id}` : "" };
    },

    async yankVersion(request, context) {
      const product = productOf(request.product);
      const version = versionOf("version", request.version);
      const result = await change({ kind: "yankVersion", product, version, at: deps.now(), actor: operatorActor(context) });
      const releases = await deps.store.heartbeat.listReleases(product);
      const concerned = (candidate: string) => candidate !== "" && compareVersions(candidate, version) === 0;
      return {
        yanked: yankedVersionMessage(result.yank),
        alreadyYanked: !result.created,
        affected: await affected(product, version),
        channels: releases.filter((release) => concerned(release.version) || concerned(release.previousVersion)).map((release) => release.channel),
      };
    },

    async unyankVersion(request, context) {
      const product = productOf(request.product);
      const version = versionOf("version", request.version);
      const result = await change({ kind: "unyankVersion", product, version, at: deps.now(), actor: operatorActor(context) });
      return { unyanked: result.unyanked, affected: await affected(product, version) };
    },

    async rollback(request, context) {
      const product = productOf(request.product);
      const channel = request.channel.trim();
      checkName("channel", channel);
      const fromVersion = versionOf("from_version", request.fromVersion);
      const toVersion = versionOf("to_version", request.toVersion);
      if (compareVersions(toVersion, fromVersion) >= 0) {
        throw new FleetbeatError("ROLLBACK_NOT_LOWER", `to_version ${toVersion} is not lower than from_version ${fromVersion}`);
      }
      const result = await change({ kind: "setRollback", product, fromVersion, toVersion, channel, at: deps.now(), actor: operatorActor(context) });
      if (result.targetYanked) throw new FleetbeatError("VERSION_YANKED", `${product} ${toVersion} is yanked: it cannot be a rollback's target`);
      return {
        rollback: rollbackMessage(result.rollback),
        replacedToVersion: result.replacedToVersion,
        affected: await affected(product, fromVersion, channel === "" ? undefined : channel),
      };
    },

    async cancelRollback(request, context) {
      const product = productOf(request.product);
      const channel = request.channel.trim();
      checkName("channel", channel);
      const fromVersion = versionOf("from_version", request.fromVersion);
      const result = await change({ kind: "cancelRollback", product, fromVersion, channel, at: deps.now(), actor: operatorActor(context) });
      return { cancelled: result.cancelled !== undefined, affected: await affected(product, fromVersion, channel === "" ? undefined : channel) };
    },

    async listReleaseControls(request) {
      const controls = await deps.store.heartbeat.listReleaseControls(request.product === "" ? undefined : request.product);
      return { yanked: controls.yanks.map(yankedVersionMessage), rollbacks: controls.rollbacks.map(rollbackMessage) };
    },

    async deleteRelease(request, context) {
      const product = request.product || config.defaultProduct;
      const channel = request.channel || config.defaultChannel;
      try {
        const result = await deps.batcher.submit({ kind: "deleteRelease", product, channel, at: deps.now(), actor: operatorActor(context) });
        return { deleted: result.deleted };
      } finally {
        cache.invalidate();
      }
    },
  };
}
