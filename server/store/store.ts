// The one storage interface the services use. It speaks in plain rows and write
// operations, never in wire messages or HTTP: each dialect folder (sqlite/,
// postgres/) implements it over its own Drizzle schema.
//
// Writes go through `apply`, which the Batcher calls with the operations of many
// requests at once and which commits them in one transaction (group commit).
// Reads are plain async methods.

export type Dialect = "sqlite" | "postgres";

// ---------------------------------------------------------------------------
// Rows. Every time is epoch milliseconds, UTC, unless the name says otherwise.

/** The collection-level fields shared by all events of a tracking session. */
export interface TrackSessionRow {
  session: string;
  deviceId: string;
  clientId: string;
  systemVersion: string;
  productVersion: string;
  system: string | null;
  productGitHash: string | null;
}

export interface TrackEventRow {
  /** Client clock, epoch seconds (the Payload's `at`). */
  at: number;
  event: string;
  nr: number;
  userId: number | null;
  ip: string | null;
  parameters: string | null;
  isTesting: boolean;
}

export type OperatorKeyScope = "read" | "admin";

export interface OperatorKeyRow {
  /** Public id, safe to show and log. */
  id: string;
  name: string;
  scope: OperatorKeyScope;
  /** sha256hex of the secret; the secret itself is never stored. */
  keyHash: string;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

// ---------------------------------------------------------------------------
// Write operations: data, so that the batcher stays dialect-free and a dialect
// can merge operations of one batch (e.g. many last-seen updates of one device).
// Each protocol issue adds its own kinds here.

export interface InsertEventsOp {
  kind: "insertEvents";
  session: TrackSessionRow;
  events: TrackEventRow[];
  /** Server receive time. */
  receivedAt: number;
}

export interface InsertEventsResult {
  kind: "insertEvents";
  /** Events newly stored. */
  inserted: number;
  /** Events whose (session, nr) was already stored. */
  duplicates: number;
}

export type WriteOp = InsertEventsOp;
export type WriteResult = InsertEventsResult;
export type WriteResultOf<Op extends WriteOp> = Extract<WriteResult, { kind: Op["kind"] }>;

/** Per-operation outcome of one `apply` call: one slot per operation, in order. */
export type OpOutcome = { ok: true; result: WriteResult } | { ok: false; error: unknown };

// ---------------------------------------------------------------------------

export interface OperatorKeyRepository {
  insert(row: OperatorKeyRow): Promise<void>;
  findByHash(keyHash: string): Promise<OperatorKeyRow | undefined>;
  list(includeRevoked: boolean): Promise<OperatorKeyRow[]>;
  revoke(id: string, at: number): Promise<OperatorKeyRow | undefined>;
  /** Best effort, off the request path: last-used time is informative only. */
  touch(id: string, at: number): Promise<void>;
}

export interface TrackRepository {
  /** Number of stored events (for stats and tests). */
  countEvents(): Promise<number>;
  /** Stored events of one session in nr order (for tests and exports). */
  eventsOfSession(session: string): Promise<Array<TrackEventRow & { receivedAt: number }>>;
}

export interface Store {
  readonly dialect: Dialect;
  readonly operatorKeys: OperatorKeyRepository;
  readonly track: TrackRepository;

  /**
   * Applies the operations in one transaction and commits it. An operation that
   * fails on its own (a constraint, bad data) fails alone: its slot carries the
   * error and the others still commit. If the transaction itself cannot commit,
   * the returned promise rejects and none of the operations took effect.
   */
  apply(ops: readonly WriteOp[]): Promise<OpOutcome[]>;

  /** Approximate size of the database in bytes. */
  sizeBytes(): Promise<number>;

  /** True when the database answers. */
  ping(): Promise<boolean>;

  close(): Promise<void>;
}
