// Leadership: which of the server processes sharing one database runs the
// fleet's background jobs (campaign steps, command expiry, retention), so each
// runs once per interval however many replicas there are. The store provides it
// (Store.openLeadership: a Postgres advisory lock, or always this process on
// SQLite); jobs only ask and listen (server/core/periodic.ts).

export interface Leadership {
  /** True while this process is the leader. */
  isLeader(): boolean;
  /**
   * Calls `listener(true, why)` when this process becomes the leader and
   * `listener(false, why)` when it stops being it (`why`: a few words for the
   * log); answers a function that unsubscribes.
   */
  subscribe(listener: (leader: boolean, reason: string) => void): () => void;
}

/** A leadership the server opened and closes (Store.openLeadership). */
export interface OpenLeadership extends Leadership {
  /** Gives the leadership up (if held) and stops trying for it. */
  close(): Promise<void>;
}

export interface LeadershipOptions {
  /**
   * How often a process that is not the leader tries to become it, and how
   * often the leader checks that it still is (ms).
   */
  intervalMs: number;
}

/** The only process on its database (SQLite, PGlite): always the leader. */
export const soleLeadership: OpenLeadership = {
  isLeader: () => true,
  subscribe: () => () => undefined,
  close: async () => undefined,
};

/**
 * The state an implementation keeps, and the listeners it tells of changes. A
 * listener's failure is not the implementation's business: it is swallowed.
 */
export class LeadershipState {
  private leader = false;
  private readonly listeners = new Set<(leader: boolean, reason: string) => void>();

  isLeader(): boolean {
    return this.leader;
  }

  subscribe(listener: (leader: boolean, reason: string) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Sets the state; listeners hear of a change only. */
  set(leader: boolean, reason: string): void {
    if (leader === this.leader) return;
    this.leader = leader;
    for (const listener of [...this.listeners]) {
      try {
        listener(leader, reason);
      } catch {
        // a listener's fault must not keep the others from hearing
      }
    }
  }
}
