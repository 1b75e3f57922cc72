// ReleaseService: the newest version per product and channel, with an optional
// staged rollout, answered to update heartbeats (server/heartbeat/).
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import type { ReleaseSchema, ReleaseService } from "../../gen/fleetbeat/operator/v1/releases_pb.js";
import type { ServiceDeps } from "../core/deps.js";
import { FleetbeatError } from "../core/errors.js";
import { fieldLimits, releaseCacheFor } from "../heartbeat/service.js";
import { isWellFormedVersion } from "../../shared/version.js";
import type { ReleaseRow } from "../store/heartbeat.js";

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

function checkName(field: "product" | "channel", value: string): void {
  if (value.length > fieldLimits[field]) throw new FleetbeatError("FIELD_TOO_LONG", `${field} is longer than ${fieldLimits[field]} characters`);
}

export function createReleaseService(deps: ServiceDeps): ServiceImpl<typeof ReleaseService> {
  const config = deps.config.heartbeat;
  const cache = releaseCacheFor(deps);
  return {
    async setRelease(request) {
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
        const result = await deps.batcher.submit({ kind: "setRelease", product, channel, version, rolloutPercent, at: deps.now() });
        return { release: releaseMessage(result.release) };
      } finally {
        cache.invalidate();
      }
    },

    async listReleases(request) {
      const rows = await deps.store.heartbeat.listReleases(request.product === "" ? undefined : request.product);
      return { releases: rows.map(releaseMessage) };
    },

    async deleteRelease(request) {
      const product = request.product || config.defaultProduct;
      const channel = request.channel || config.defaultChannel;
      try {
        const result = await deps.batcher.submit({ kind: "deleteRelease", product, channel });
        return { deleted: result.deleted };
      } finally {
        cache.invalidate();
      }
    },
  };
}
