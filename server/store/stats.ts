// Storage contract of the operator's server-wide figures (StatsService.GetStats):
// counts across the slices' tables, each one query. The slices' own contracts
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

export interface StatsQueries {
  /** The counts of GetStats; `onlineAfter` and `since` are epoch ms. */
  fleetCounts(onlineAfter: number, since: number): Promise<FleetCounts>;
}

/** An event row's id and receive time (epoch ms). */
export interface ArrivalProbe {
  id: number;
  receivedAt: number;
}

/**
 * The first event id received at or after `since`, or undefined when none was.
 * track_events has no index on received_at (ingest cost): ids are arrival
 * order, so receive times rise with the id and a binary search over primary-key
 * seeks finds the boundary; `probe(id)` is the first row with id ≥ `id`.
 * (Across several processes writing one database the order holds to within a
 * batch, so a count from here is exact to within that.)
 */
export async function firstIdReceivedSince(
  newest: ArrivalProbe | undefined,
  oldestId: number,
  since: number,
  probe: (id: number) => Promise<ArrivalProbe | undefined>,
): Promise<number | undefined> {
  if (newest === undefined || newest.receivedAt < since) return undefined;
  // Invariant: `best` is a stored id received ≥ since, and any earlier such id lies in [lo, hi].
  let best = newest.id;
  let lo = oldestId;
  let hi = newest.id - 1;
  while (lo <= hi) {
    const mid = lo + Math.floor((hi - lo) / 2);
    const row = await probe(mid);
    if (row === undefined || row.id >= best) hi = mid - 1;
    else if (row.receivedAt >= since) {
      best = row.id;
      hi = mid - 1;
    } else lo = row.id + 1;
  }
  return best;
}
