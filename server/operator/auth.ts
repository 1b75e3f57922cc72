// Operator authentication, used by the guard for every operator service:
// `Authorization: Bearer <secret>`, looked up by its sha256, with the scope the
// method needs. Device credentials never open the operator API.
import type { Logger } from "pino";
import { operatorKeyKey } from "../core/context.js";
import { FleetbeatError } from "../core/errors.js";
import type { Authorize } from "../core/guard.js";
import type { OperatorKeyRow, OperatorKeyScope, Store } from "../store/store.js";
import { hashOperatorSecret } from "./keys.js";

/** True when a key of scope `granted` may call a method that needs `required` (read ⊂ admin). */
export function scopeAllows(granted: OperatorKeyScope, required: OperatorKeyScope): boolean {
  return granted === "admin" || required === "read";
}

/** The token of an `Authorization: Bearer <token>` header; undefined when there is none. */
export function bearerToken(headers: Headers): string | undefined {
  const value = headers.get("authorization");
  if (value === null) return undefined;
  // Headers strips leading and trailing white space from every value already.
  const match = /^Bearer[ \t]+(\S+)$/i.exec(value);
  return match?.[1];
}

export interface OperatorAuth {
  /** The key allowed to make the call; throws OPERATOR_KEY_REQUIRED, OPERATOR_KEY_INVALID or SCOPE_INSUFFICIENT. */
  authorize(headers: Headers, required: OperatorKeyScope): Promise<OperatorKeyRow>;
  /** Waits for last-used updates still running (call before the store closes). */
  settle(): Promise<void>;
}

/**
 * The guard's `authorize` (server/core/guard.ts) over `auth`: the key from the
 * call's headers, checked for the scope, recorded in the context as operatorKeyKey.
 */
export function authorizeWith(auth: OperatorAuth): Authorize {
  return async (context, scope) => {
    context.values.set(operatorKeyKey, await auth.authorize(context.requestHeader, scope));
  };
}

export interface OperatorAuthOptions {
  store: Store;
  logger: Logger;
  now: () => number;
  /** A key's last-used time is written at most this often (default one minute). */
  touchIntervalMs?: number;
}

export function createOperatorAuth(options: OperatorAuthOptions): OperatorAuth {
  const { store, logger, now } = options;
  const touchIntervalMs = options.touchIntervalMs ?? 60_000;
  const lastTouched = new Map<string, number>();
  const pending = new Set<Promise<void>>();

  // Informative only: written off the request path, at most once per interval
  // per key, and a failure is logged, never answered.
  function touch(row: OperatorKeyRow, at: number): void {
    const previous = lastTouched.get(row.id);
    if (previous !== undefined && at - previous < touchIntervalMs) return;
    lastTouched.set(row.id, at);
    const write = store.operatorKeys
      .touch(row.id, at)
      .catch((error: unknown) => logger.warn({ err: error, keyId: row.id }, "could not record an operator key's last use"))
      .finally(() => pending.delete(write));
    pending.add(write);
  }

  return {
    async authorize(headers, required) {
      const token = bearerToken(headers);
      if (token === undefined) throw new FleetbeatError("OPERATOR_KEY_REQUIRED");
      const row = await store.operatorKeys.findByHash(hashOperatorSecret(token));
      if (row === undefined || row.revokedAt !== null) throw new FleetbeatError("OPERATOR_KEY_INVALID");
      if (!scopeAllows(row.scope, required)) {
        throw new FleetbeatError("SCOPE_INSUFFICIENT", `the method needs scope ${required}, the key has ${row.scope}`);
      }
      touch(row, now());
      return row;
    },
    async settle() {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
  };
}
