// Shared secrets for the X-Hamustro-Signature check: one global and/or one per
// client_id (a client_id's own entry wins). Rotation: put the new secret in
// `secret`, the old one in `previous`, and the time of the change in `rotatedAt`;
// the old one stays valid for the configured grace period after that time.
//
//   {
//     "secret": "global-secret", "previous": "old-global", "rotatedAt": "2026-11-20T09:00:00Z",
//     "clients": { "ios-app": { "secret": "s2", "previous": "s1", "rotatedAt": "2026-11-24T12:00:00Z" } }
//   }

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

function entryOf(raw: unknown, where: string): Entry {
  if (typeof raw !== "object" || raw === null) throw new Error(`${where}: expected an object`);
  const { secret, previous, rotatedAt } = raw as Record<string, unknown>;
  if (typeof secret !== "string" || secret === "") throw new Error(`${where}.secret must be a non-empty string`);
  if (previous !== undefined && (typeof previous !== "string" || previous === "")) throw new Error(`${where}.previous must be a non-empty string`);
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
    if (config.secret !== undefined) this.global = entryOf(config, "track secrets");
    for (const [clientId, entry] of Object.entries(config.clients ?? {})) {
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

/** Parses the JSON text of a secrets file or environment variable. */
export function parseTrackSecrets(text: string): TrackSecretsConfig {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`track secrets are not valid JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("track secrets must be a JSON object");
  // Validate eagerly so a typo fails at start-up, not on the first request.
  new TrackSecrets(parsed as TrackSecretsConfig, 0);
  return parsed as TrackSecretsConfig;
}
