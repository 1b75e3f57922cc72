// Storage contract of the operator's server-wide figures (StatsService.GetStats,
// GetStatsSeries): counts across the slices' tables. The slices' own contracts
// stay about their protocol; this one only reads.

export interface FleetCounts {
  /** Registered DI devices. */
  devices: number;
  /** Devices with last_seen > onlineAfter. */
  devicesOnline: number;
  /**
   * Devices never heard from since they registered: registration sets last_seen
   * to registered_at and only a later contact (an accepted check-in, a
   * registration again) raises it, so last_seen ≤ registered_at (or NULL).
   */
  devicesNeverSeen: number;
  /** Commands queued or delivered (not yet final). */
  commandsPending: number;
  /** Update-heartbeat installations stored. */
  installations: number;
  /** Tracking events with received_at ≥ since. */
  eventsSince: number;
  /** Raw update heartbeats with received_at ≥ since. */
  heartbeatsSince: number;
}

/** What arrived in one step of a series. */
export interface StepCounts {
  /** The step's start, epoch ms. */
  start: number;
  /**
   * Tracking events with ids from the first received at or after `start` up to
   * the next step's first (by arrival order; see firstIdsReceivedSince).
   */
  events: number;
  /** Raw update heartbeats with start ≤ received_at < start + step. */
  heartbeats: number;
}

export interface StatsQueries {
  /** The counts of GetStats; `onlineAfter` and `since` are epoch ms. */
  fleetCounts(onlineAfter: number, since: number): Promise<FleetCounts>;
  /**
   * What arrived in each of `steps` consecutive steps of `stepMs` from `from`
   * (epoch ms), oldest first. A constant number of statements, whatever the
   * number of steps: the event boundaries by one search for all of them, then
   * one count of the id ranges, one of heartbeats (received_at is indexed).
   */
  stepCounts(from: number, stepMs: number, steps: number): Promise<StepCounts[]>;
}

/** An event row's id and receive time (epoch ms). */
export interface ArrivalProbe {
  id: number;
  receivedAt: number;
}

/** For each id asked, the first stored row with id ≥ it (absent when there is none). */
export type ArrivalProbes = (ids: readonly number[]) => Promise<ReadonlyMap<number, ArrivalProbe>>;

/**
 * For each of `sinces` (epoch ms), the first event id received at or after it,
 * or undefined when none was. track_events has no index on received_at (ingest
 * cost): ids are arrival order, so receive times rise with the id and a binary
 * search over primary-key seeks finds each boundary. The searches run side by
 * side: every round probes the midpoints of all unfinished ones at once
 * (`probe`, one statement), so the boundaries of a 1,440-step series cost about
 * as many rounds as one boundary (log2 of the id range), not 1,440 times that.
 * (Across several processes writing one database the order holds to within a
 * batch, so a count from here is exact to within that.)
 */
export async function firstIdsReceivedSince(
  newest: ArrivalProbe | undefined,
  oldestId: number,
  sinces: readonly number[],
  probe: ArrivalProbes,
): Promise<Array<number | undefined>> {
  // Invariant of each search: `best` is a stored id received ≥ since, and any earlier such id lies in [lo, hi].
  const searches = sinces.map((since) =>
    newest === undefined || newest.receivedAt < since ? undefined : { since, best: newest.id, lo: oldestId, hi: newest.id - 1 },
  );
  let open = searches.filter((search) => search !== undefined);
  while (open.length > 0) {
    const mids = open.map((search) => search.lo + Math.floor((search.hi - search.lo) / 2));
    const rows = await probe([...new Set(mids)]);
    open.forEach((search, k) => {
      const mid = mids[k]!;
      const row = rows.get(mid);
      if (row === undefined || row.id >= search.best) search.hi = mid - 1;
      else if (row.receivedAt >= search.since) {
        search.best = row.id;
        search.hi = mid - 1;
      } else search.lo = row.id + 1;
    });
    open = open.filter((search) => search.lo <= search.hi);
  }
  return searches.map((search) => search?.best);
}
