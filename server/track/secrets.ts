// Shared secrets for the X-Hamustro-Signature check: one global and/or one per
// client_id (a client_id's own entry wins). Rotation: put the new secret in
// `secret`, the old one in `previous`, and the time of the change in `rotatedAt`;
// the old one stays valid for the configured grace period after that time.
//
//   {
//     "secret": "global-secret", "previous": "old-global", "rotatedAt": "2026-11-20T09:00:00Z",
//     "clients": { "ios-app": { "secret": "s2", "previous": "s1", "rotatedAt": "2026-11-24T12:00:00Z" } }
//   }

import { z } from "zod";
import { parseJsonQuietly } from "../../shared/json.js";

export interface TrackSecretEntry {
  secret: string;
  previous?: string;
  /** ISO 8601 time (or epoch ms) of the rotation from `previous` to `secret`. */
  rotatedAt?: string | number;
}

export interface TrackSecretsConfig extends Partial<TrackSecretEntry> {
  clients?: Record<string, TrackSecretEntry>;
}

interface Entry {
  secret: string;
  previous: string | undefined;
  rotatedAtMs: number;
}

// The accepted shape, strict: an unknown key (a typo such as "secrets" or
// "client") is an error naming the key, never silently ignored. Every field of
// the top level is optional (an empty object configures nothing, as before);
// a client's entry needs its secret.
const nonEmpty = z.string().min(1);
const rotatedAt = z.union([z.string(), z.number()]);
const entrySchema = z.strictObject({ secret: nonEmpty, previous: nonEmpty.optional(), rotatedAt: rotatedAt.optional() });
const secretsSchema = z.strictObject({
  secret: nonEmpty.optional(),
  previous: nonEmpty.optional(),
  rotatedAt: rotatedAt.optional(),
  clients: z.record(z.string(), entrySchema).optional(),
});

/** Where an issue is, as `track secrets.clients["ios-app"].secret`. */
function whereOf(path: readonly PropertyKey[]): string {
  let where = "track secrets";
  // Stryker disable next-line ConditionalExpression: "clients" is the only nested key of the schema, so a second path element always sits under it.
  for (const [index, key] of path.entries()) where += index === 1 && path[0] === "clients" ? `[${JSON.stringify(String(key))}]` : `.${String(key)}`;
  return where;
}

/** One line per issue, built from the issue's kind and path only: a value (a secret) is never quoted. */
function describeIssue(issue: z.core.$ZodIssue): string {
  const where = whereOf(issue.path);
  switch (issue.code) {
    case "unrecognized_keys":
      return `${where}: unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((key) => JSON.stringify(key)).join(", ")} (allowed: secret, previous, rotatedAt${issue.path.length === 0 ? ", clients" : ""})`;
    case "invalid_type":
      return issue.expected === "object" || issue.expected === "record" ? `${where} must be a JSON object` : `${where} must be a ${issue.expected === "string" ? "non-empty string" : issue.expected}`;
    case "too_small":
      return `${where} must be a non-empty string`;
    case "invalid_union":
      return `${where} must be an ISO time or epoch ms`;
    default:
      // Stryker disable next-line all: the schema above raises no other kind of issue; kept so a new field cannot crash the message.
      return `${where} is not valid`;
  }
}

/** Checks a configuration against the schema; throws an Error naming every problem (never a value). */
function checked(config: unknown): TrackSecretsConfig {
  const result = secretsSchema.safeParse(config);
  if (!result.success) throw new Error(result.error.issues.map(describeIssue).join("; "));
  return result.data;
}

function entryOf(entry: TrackSecretEntry, where: string): Entry {
  const { secret, previous, rotatedAt } = entry;
  let rotatedAtMs = Number.NaN;
  if (typeof rotatedAt === "number") rotatedAtMs = rotatedAt;
  else if (typeof rotatedAt === "string") rotatedAtMs = Date.parse(rotatedAt);
  if (previous !== undefined && !Number.isFinite(rotatedAtMs)) throw new Error(`${where}.rotatedAt must be an ISO time or epoch ms when previous is set`);
  return { secret, previous, rotatedAtMs };
}

export class TrackSecrets {
  private readonly global: Entry | undefined;
  private readonly clients = new Map<string, Entry>();

  /** Throws a descriptive Error for a malformed configuration (start-up fails loudly). */
  constructor(
    config: TrackSecretsConfig | undefined,
    private readonly graceMs: number,
  ) {
    if (!config) return;
    const valid = checked(config);
    if (valid.secret !== undefined) this.global = entryOf({ ...valid, secret: valid.secret }, "track secrets");
    for (const [clientId, entry] of Object.entries(valid.clients ?? {})) {
      this.clients.set(clientId, entryOf(entry, `track secrets.clients["${clientId}"]`));
    }
  }

  get configured(): boolean {
    return this.global !== undefined || this.clients.size > 0;
  }

  /** The secrets a request of `clientId` may be signed with at `now` (epoch ms): current first, then the previous one while in grace. */
  secretsFor(clientId: string, now: number): string[] {
    const entry = this.clients.get(clientId) ?? this.global;
    if (!entry) return [];
    const secrets = [entry.secret];
    if (entry.previous !== undefined && now < entry.rotatedAtMs + this.graceMs) secrets.push(entry.previous);
    return secrets;
  }
}

/** Parses the JSON text of a secrets file or environment variable; errors name the problem, never the text. */
export function parseTrackSecrets(text: string): TrackSecretsConfig {
  let parsed: unknown;
  try {
    parsed = parseJsonQuietly(text);
  } catch (error) {
    throw new Error(`track secrets are ${(error as Error).message}`);
  }
  // Validate eagerly so a typo fails at start-up, not on the first request.
  const config = checked(parsed);
  new TrackSecrets(config, 0);
  return config;
}
