// Storage contract of the tracking slice: rows, write operations, reads.

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

export interface InsertEventsOp {
  kind: "insertEvents";
  session: TrackSessionRow;
  events: TrackEventRow[];
  /** Server receive time, epoch ms. */
  receivedAt: number;
}

export interface InsertEventsResult {
  kind: "insertEvents";
  /** Events newly stored. */
  inserted: number;
  /** Events whose (session, nr) was already stored. */
  duplicates: number;
}

export type TrackWriteOp = InsertEventsOp | PruneEventsOp;
export type TrackWriteResult = InsertEventsResult | PruneEventsResult;

export interface TrackRepository extends TrackQueries {
  /** Number of stored events. */
  countEvents(): Promise<number>;
  /** Stored events of one session in nr order. */
  eventsOfSession(session: string): Promise<Array<TrackEventRow & { receivedAt: number }>>;
  /** The session's row as first stored (later collections never change it); undefined when unknown. */
  findSession(session: string): Promise<(TrackSessionRow & { firstSeen: number }) | undefined>;
}

/**
 * Retention, one small step: of the oldest `limit` events in arrival (id) order,
 * deletes those received before `receivedBefore`. `deleted < limit` means the
 * oldest rows left are younger than the cutoff (or the table is empty): stop.
 */
export interface PruneEventsOp {
  kind: "pruneEvents";
  /** Epoch ms: events with receivedAt < this go. */
  receivedBefore: number;
  limit: number;
}

export interface PruneEventsResult {
  kind: "pruneEvents";
  deleted: number;
}

/** What the operator's event queries filter on; every field optional, all given ones must match. */
export interface TrackEventFilter {
  deviceId?: string;
  session?: string;
  event?: string;
  clientId?: string;
  /** Event time `at` (epoch SECONDS), inclusive. */
  fromAt?: number;
  /** Event time `at` (epoch SECONDS), exclusive. */
  toAt?: number;
}

/** A stored event with the fields of its session, and its row id (the paging cursor). */
export interface StoredTrackEvent extends TrackSessionRow, TrackEventRow {
  id: number;
  /** Server receive time, epoch ms. */
  receivedAt: number;
}

/** The reads the operator's EventService needs (server/operator/event-service.ts). */
export interface TrackQueries {
  /** Matching events with id > afterId, in id (arrival) order, at most `limit`. */
  listEvents(filter: TrackEventFilter, afterId: number, limit: number): Promise<StoredTrackEvent[]>;
}
