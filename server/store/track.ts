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

/**
 * A place in the feed of committed events (FollowEvents): opaque outside the
 * store, made only by feedHead and feedAfter of the same dialect.
 */
export type FeedPosition = string;

export interface FeedPage {
  /** In commit order. */
  events: StoredTrackEvent[];
  /** Just after the last event of the page; the position asked for when the page is empty. */
  position: FeedPosition;
}

/** The reads the operator's EventService needs (server/operator/event-service.ts, follow-events.ts). */
export interface TrackQueries {
  /** Matching events with id > afterId, in id (arrival) order, at most `limit`. */
  listEvents(filter: TrackEventFilter, afterId: number, limit: number): Promise<StoredTrackEvent[]>;
  /** The feed position after every event committed so far. */
  feedHead(): Promise<FeedPosition>;
  /**
   * Committed events after `position`, in commit order, at most `limit`. Walking
   * the feed (each page's position into the next call) yields every event
   * committed after the starting position exactly once, also when several
   * processes write and one commits after another that took a higher id.
   */
  feedAfter(position: FeedPosition, limit: number): Promise<FeedPage>;
  /**
   * Calls `wake` soon after events were committed by any process sharing the
   * database, until the answered function stops it. Only a hint to read the
   * feed now: it may come without new events, or not at all (the reader still
   * polls). Absent where polling is the only way (SQLite).
   */
  watchCommits?(wake: () => void): () => Promise<void>;
}
