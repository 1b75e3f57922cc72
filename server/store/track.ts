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

export type TrackWriteOp = InsertEventsOp;
export type TrackWriteResult = InsertEventsResult;

export interface TrackRepository {
  /** Number of stored events. */
  countEvents(): Promise<number>;
  /** Stored events of one session in nr order. */
  eventsOfSession(session: string): Promise<Array<TrackEventRow & { receivedAt: number }>>;
  /** The session's row as first stored (later collections never change it); undefined when unknown. */
  findSession(session: string): Promise<(TrackSessionRow & { firstSeen: number }) | undefined>;
}
