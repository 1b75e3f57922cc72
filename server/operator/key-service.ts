// KeyService: operator API keys over the API (every method needs an admin key
// but GetCurrentKey, which any key may call about itself; the first key comes
// from the CLI's `fleetbeat keys create`).
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { type ApiKeySchema, KeyScope, type KeyService } from "../../gen/fleetbeat/operator/v1/keys_pb.js";
import { operatorKeyKey } from "../core/context.js";
import type { ServiceDeps } from "../core/deps.js";
import { FleetbeatError } from "../core/errors.js";
import type { OperatorKeyRow, OperatorKeyScope } from "../store/store.js";
import { createOperatorKey } from "./keys.js";

export function createKeyService(deps: Pick<ServiceDeps, "store" | "now">): ServiceImpl<typeof KeyService> {
  const { store, now } = deps;
  return {
    async createKey(request) {
      const { row, secret } = await createOperatorKey(store, { name: request.name, scope: scopeFromWire(request.scope), now: now() });
      return { key: apiKeyOf(row), secret };
    },
    async listKeys(request) {
      const rows = await store.operatorKeys.list(request.includeRevoked);
      return { keys: rows.map(apiKeyOf) };
    },
    async revokeKey(request) {
      if (request.id === "") throw new FleetbeatError("MISSING_FIELD", "id");
      const row = await store.operatorKeys.revoke(request.id, now());
      if (row === undefined) throw new FleetbeatError("NOT_FOUND", `no key with id ${request.id}`);
      return { key: apiKeyOf(row) };
    },
    getCurrentKey(_request, context) {
      // The guard authorised the call with this key and recorded its row (auth.ts, authorizeWith).
      const row = context.values.get(operatorKeyKey);
      if (row === undefined) throw new FleetbeatError("OPERATOR_KEY_REQUIRED");
      return { key: apiKeyOf(row) };
    },
  };
}

function scopeFromWire(scope: KeyScope): OperatorKeyScope {
  switch (scope) {
    case KeyScope.READ:
      return "read";
    case KeyScope.ADMIN:
      return "admin";
    default:
      throw new FleetbeatError("BAD_REQUEST", "scope must be KEY_SCOPE_READ or KEY_SCOPE_ADMIN");
  }
}

export function apiKeyOf(row: OperatorKeyRow): MessageInitShape<typeof ApiKeySchema> {
  return {
    id: row.id,
    name: row.name,
    scope: row.scope === "admin" ? KeyScope.ADMIN : KeyScope.READ,
    createdAt: timestampFromMs(row.createdAt),
    ...(row.lastUsedAt !== null ? { lastUsedAt: timestampFromMs(row.lastUsedAt) } : {}),
    ...(row.revokedAt !== null ? { revokedAt: timestampFromMs(row.revokedAt) } : {}),
  };
}
