// Persistent state of a ClientTracker, behind one small interface so the same
// tracker runs on Node (FileStorage, node.ts), in browsers (WebStorage,
// browser.ts) and in tests (MemoryStorage). What the seed asks to keep:
// the queued events with the tracker attributes of their session
// (LoadCollections), the event counter per session (LoadNumberPerSession), and
// the last successful sync (LoadLastSyncTime).

/** The Collection-level attributes of one session, saved with each of its events. */
export interface SessionInfo {
  session: string;
  /** sha256hex of the raw device id, as sent. */
  deviceId: string;
  clientId: string;
  systemVersion: string;
  productVersion: string;
  system?: string;
  productGitHash?: string;
}

/** One queued event: its session's attributes, its Payload fields, and the seed's Sent mark. */
export interface StoredEvent {
  info: SessionInfo;
  /** Epoch seconds, UTC. */
  at: number;
  event: string;
  nr: number;
  userId?: number;
  ip?: string;
  parameters?: string;
  isTesting: boolean;
  /** Marked when handed to the collector; the event stays until a 200 confirms it. */
  sent: boolean;
}

export interface TrackerSnapshot {
  events: StoredEvent[];
  /** Highest nr handed out per session, including events already delivered and deleted. */
  numbers: Record<string, number>;
  /** Epoch ms of the last 200, or undefined when the tracker never had one. */
  lastSyncTime: number | undefined;
}

/** Identifies an event: its session and nr. */
export interface EventKey {
  session: string;
  nr: number;
}

export const keyOf = (key: EventKey): string => `${key.session}:${key.nr}`;

export interface TrackerStorage {
  load(): Promise<TrackerSnapshot>;
  /** Resolves only once the event (and its nr as the session's counter) is durable. */
  append(event: StoredEvent): Promise<void>;
  markSent(keys: readonly EventKey[]): Promise<void>;
  /** Deletes delivered events; the session counters stay. */
  remove(keys: readonly EventKey[]): Promise<void>;
  setLastSyncTime(epochMs: number): Promise<void>;
  close(): Promise<void>;
}

/** Applies a counter update: the highest nr wins, so a lagging counter record can never move it back. */
export function bump(numbers: Record<string, number>, session: string, nr: number): void {
  if ((numbers[session] ?? 0) < nr) numbers[session] = nr;
}

/** Keeps state in memory only: for tests, and for apps that accept losing the queue on exit. */
export class MemoryStorage implements TrackerStorage {
  private readonly events = new Map<string, StoredEvent>();
  private readonly numbers: Record<string, number> = {};
  private lastSyncTime: number | undefined;

  async load(): Promise<TrackerSnapshot> {
    return {
      events: [...this.events.values()].map((event) => structuredClone(event)),
      numbers: { ...this.numbers },
      lastSyncTime: this.lastSyncTime,
    };
  }

  async append(event: StoredEvent): Promise<void> {
    this.events.set(keyOf({ session: event.info.session, nr: event.nr }), structuredClone(event));
    bump(this.numbers, event.info.session, event.nr);
  }

  async markSent(keys: readonly EventKey[]): Promise<void> {
    for (const key of keys) {
      const event = this.events.get(keyOf(key));
      if (event) event.sent = true;
    }
  }

  async remove(keys: readonly EventKey[]): Promise<void> {
    for (const key of keys) this.events.delete(keyOf(key));
  }

  async setLastSyncTime(epochMs: number): Promise<void> {
    this.lastSyncTime = epochMs;
  }

  async close(): Promise<void> {}
}
