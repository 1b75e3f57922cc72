// Browser persistence over the Web Storage API (localStorage by default). One
// key per event, one per session counter, one for the last sync time, all under
// a prefix, so each write is one atomic setItem and nothing is rewritten in bulk.
// No Node import here: this file is on the browser path.
import { bump, keyOf, type EventKey, type StoredEvent, type TrackerSnapshot, type TrackerStorage } from "./storage.js";

/** The part of the Web Storage interface this adapter uses. */
export interface WebStorageArea {
  readonly length: number;
  key(index: number): string | null;
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export class WebStorage implements TrackerStorage {
  private readonly area: WebStorageArea;

  /** `area` defaults to globalThis.localStorage; `prefix` separates several trackers on one origin. */
  constructor(options: { area?: WebStorageArea; prefix?: string } = {}) {
    const area = options.area ?? (globalThis as { localStorage?: WebStorageArea }).localStorage;
    if (!area) throw new Error("WebStorage needs localStorage (or an explicit storage area)");
    this.area = area;
    this.prefix = options.prefix ?? "fleetbeat.tracker";
  }

  private readonly prefix: string;
  private eventKey(key: EventKey): string {
    return `${this.prefix}/e/${keyOf(key)}`;
  }

  async load(): Promise<TrackerSnapshot> {
    const snapshot: TrackerSnapshot = { events: [], numbers: {}, lastSyncTime: undefined };
    const eventPrefix = `${this.prefix}/e/`;
    const numberPrefix = `${this.prefix}/n/`;
    for (let i = 0; i < this.area.length; i++) {
      const key = this.area.key(i);
      if (key === null) continue;
      const value = this.area.getItem(key);
      if (value === null) continue;
      if (key.startsWith(eventPrefix)) {
        try {
          const event = JSON.parse(value) as StoredEvent;
          snapshot.events.push(event);
          bump(snapshot.numbers, event.info.session, event.nr);
        } catch {
          // A value another script damaged: it cannot be sent, skip it.
        }
      } else if (key.startsWith(numberPrefix)) {
        const nr = Number(value);
        if (Number.isInteger(nr)) bump(snapshot.numbers, key.slice(numberPrefix.length), nr);
      } else if (key === `${this.prefix}/sync`) {
        const ms = Number(value);
        if (Number.isFinite(ms)) snapshot.lastSyncTime = ms;
      }
    }
    snapshot.events.sort((a, b) => (a.info.session === b.info.session ? a.nr - b.nr : a.info.session < b.info.session ? -1 : 1));
    return snapshot;
  }

  async append(event: StoredEvent): Promise<void> {
    // The event first: if the counter write fails, load() still derives the counter from the event.
    this.area.setItem(this.eventKey({ session: event.info.session, nr: event.nr }), JSON.stringify(event));
    this.area.setItem(`${this.prefix}/n/${event.info.session}`, String(event.nr));
  }

  async markSent(keys: readonly EventKey[]): Promise<void> {
    for (const key of keys) {
      const value = this.area.getItem(this.eventKey(key));
      if (value === null) continue;
      const event = JSON.parse(value) as StoredEvent;
      if (!event.sent) this.area.setItem(this.eventKey(key), JSON.stringify({ ...event, sent: true }));
    }
  }

  async remove(keys: readonly EventKey[]): Promise<void> {
    for (const key of keys) this.area.removeItem(this.eventKey(key));
  }

  async setLastSyncTime(epochMs: number): Promise<void> {
    this.area.setItem(`${this.prefix}/sync`, String(epochMs));
  }

  async close(): Promise<void> {}
}
