// ReleaseService: the newest version per product and channel, with an optional
// staged rollout, answered to update heartbeats (server/heartbeat/).
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import {
  ReleaseAuditActorKind,
  type ReleaseAuditEntrySchema,
  type ReleaseSchema,
  type ReleaseService,
} from "../../gen/fleetbeat/operator/v1/releases_pb.js";
import { operatorKeyKey } from "../core/context.js";
import type { ServiceDeps } from "../core/deps.js";
import { FleetbeatError } from "../core/errors.js";
import { fieldLimits, releaseCacheFor } from "../heartbeat/service.js";
import { isWellFormedVersion } from "../../shared/version.js";
import type { ReleaseAuditActor, ReleaseAuditPosition, ReleaseAuditRow, ReleaseRow } from "../store/heartbeat.js";
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

export function releaseAuditEntryMessage(row: ReleaseAuditRow): MessageInitShape<typeof ReleaseAuditEntrySchema> {
  return {
    id: BigInt(row.id),
    at: timestampFromMs(row.at),
    product: row.product,
    channel: row.channel,
    action: row.action,
    actor: { kind: actorKindOf[row.actorKind] ?? ReleaseAuditActorKind.UNSPECIFIED, keyId: row.actorId, name: row.actorName },
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

export function createReleaseService(deps: ServiceDeps): ServiceImpl<typeof ReleaseService> {
  const config = deps.config.heartbeat;
  const cache = releaseCacheFor(deps);
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
