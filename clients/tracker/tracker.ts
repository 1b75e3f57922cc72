// ClientTracker: the seed's pseudo-client (seeds/001, SPEC §1) in idiomatic
// TypeScript over the generated Collection/Payload types. Platform-neutral: the
// storage adapter decides where the queue lives (node.ts / browser.ts).
//
//   seed                              here
//   ClientTracker(collector_url, …)   ClientTracker.open({ collectorUrl, sharedSecret, deviceId, clientId,
//                                       systemVersion, productVersion, system, productGitHash,
//                                       queueSize = 20, queueRetentionMinutes = 1440, storage, … })
//   t.GenerateSession()               tracker.generateSession()
//   tc.LoadCollections()              tracker.loadCollections()
//   tc.LoadNumberPerSession()         tracker.loadNumberPerSession()
//   tc.LoadLastSyncTime()             tracker.loadLastSyncTime()
//   t.TrackEvent(event, user_id,      tracker.trackEvent(event, { userId, params, isTesting })
//     params, is_testing)
//   (sending)                         tracker.flush(); tracker.close()
import { create, toBinary } from "@bufbuild/protobuf";
import { CollectionSchema, PayloadSchema, type Collection } from "@fleetbeat/proto/fleetbeat/track/v1/collection_pb.js";
import { asksToWait, retryAfterMs } from "../retry-after.js";
import { generateSession, sha256Hex, signature } from "./signing.js";
import { keyOf, type EventKey, type SessionInfo, type StoredEvent, type TrackerStorage } from "./storage.js";

export interface RetryOptions {
  /** First delay after a failed send. Default 1 s. */
  initialDelayMs?: number;
  /** Longest delay between attempts; also bounds the wait a Retry-After asks for. Default 5 min. */
  maxDelayMs?: number;
}

export interface ClientTrackerOptions {
  /** collector_url: the collector's base URL; events go to <collectorUrl>/api/v1/track. */
  collectorUrl: string;
  /** shared_secret_key: signs every request (X-Hamustro-Signature). */
  sharedSecret: string;
  /** device_id: the raw device id; the tracker sends sha256hex of it, as the seed asks. */
  deviceId: string;
  /** client_id */
  clientId: string;
  /** system_version */
  systemVersion: string;
  /** product_version */
  productVersion: string;
  /** system */
  system?: string;
  /** product_git_hash */
  productGitHash?: string;
  /** queue_size: send when this many events are unsent. Default 20. */
  queueSize?: number;
  /** queue_retention: send when the last sync is older than this many minutes. Default 1440 (24 h). */
  queueRetentionMinutes?: number;
  storage: TrackerStorage;
  /** The address to stamp as each event's `ip`. Left out, the collector fills in the address it sees. */
  ip?: () => string | undefined;
  retry?: RetryOptions;
  /** Per request. Default 30 s. */
  requestTimeoutMs?: number;
  /** Most events per request; larger queues go in several requests. Default 500. */
  maxEventsPerRequest?: number;
  fetch?: typeof fetch;
  /** Epoch ms. */
  now?: () => number;
  /** Background sends report failures here (they are retried regardless). */
  onError?: (error: unknown) => void;
}

export interface TrackEventOptions {
  /** user_id */
  userId?: number;
  /** params: free-form text, usually JSON. */
  params?: string;
  /** is_testing. Default false. */
  isTesting?: boolean;
}

export interface FlushResult {
  /** Events confirmed by a 200 during this flush. */
  delivered: number;
  /** Events still queued afterwards. */
  pending: number;
  /** Why the last request failed, when one did. */
  error?: unknown;
}

/** A non-200 answer from the collector. The events stay queued. */
export class CollectorError extends Error {
  constructor(
    readonly status: number,
    /** With 429 or 503: the wait the collector's Retry-After asked for (ms, bounded by retry.maxDelayMs). */
    readonly retryAfterMs?: number,
  ) {
    super(retryAfterMs === undefined ? `collector answered ${status}` : `collector answered ${status}, retry after ${retryAfterMs} ms`);
    this.name = "CollectorError";
  }
}

function trackUrl(collectorUrl: string): string {
  const url = new URL(collectorUrl);
  if (!url.pathname.endsWith("/api/v1/track")) url.pathname = `${url.pathname.replace(/\/+$/, "")}/api/v1/track`;
  return url.toString();
}

export class ClientTracker {
  readonly info: SessionInfo;
  readonly queueSize: number;
  readonly queueRetentionMinutes: number;
  private readonly storage: TrackerStorage;
  private readonly url: string;
  private readonly now: () => number;
  private readonly fetchImpl: typeof fetch;
  /** Queued events by "session:nr", oldest first. */
  private readonly queue = new Map<string, StoredEvent>();
  private numbers: Record<string, number> = {};
  private lastSyncTime = 0;
  private sending: Promise<FlushResult> | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private attempt = 0;
  private closed = false;

  private constructor(private readonly options: ClientTrackerOptions) {
    this.queueSize = options.queueSize ?? 20;
    this.queueRetentionMinutes = options.queueRetentionMinutes ?? 1440;
    this.storage = options.storage;
    this.url = trackUrl(options.collectorUrl);
    this.now = options.now ?? Date.now;
    const fetchImpl = options.fetch ?? globalThis.fetch;
    if (!fetchImpl) throw new Error("ClientTracker needs fetch (pass options.fetch on old runtimes)");
    // Called as a plain function, never as this.fetchImpl(…): a browser's fetch
    // called as a method of another object throws "Illegal invocation".
    this.fetchImpl = (input, init) => fetchImpl(input, init);
    this.info = {
      session: "",
      deviceId: sha256Hex(options.deviceId),
      clientId: options.clientId,
      systemVersion: options.systemVersion,
      productVersion: options.productVersion,
      ...(options.system !== undefined ? { system: options.system } : {}),
      ...(options.productGitHash !== undefined ? { productGitHash: options.productGitHash } : {}),
    };
    this.info.session = this.generateSession();
  }

  /** Creates the tracker and loads its queue, counters and last sync time from storage. */
  static async open(options: ClientTrackerOptions): Promise<ClientTracker> {
    const tracker = new ClientTracker(options);
    await tracker.load();
    return tracker;
  }

  /** GenerateSession: md5hex(sha256hex(device_id) + ":" + client_id + ":" + system_version + ":" + product_version). */
  generateSession(): string {
    const o = this.options;
    return generateSession(o.deviceId, o.clientId, o.systemVersion, o.productVersion);
  }

  private async load(): Promise<void> {
    const snapshot = await this.storage.load();
    for (const event of snapshot.events) this.queue.set(keyOf({ session: event.info.session, nr: event.nr }), event);
    this.numbers = snapshot.numbers;
    if (snapshot.lastSyncTime === undefined) {
      // Never synced: the retention clock starts now, not in 1970.
      this.lastSyncTime = this.now();
      await this.storage.setLastSyncTime(this.lastSyncTime);
    } else this.lastSyncTime = snapshot.lastSyncTime;
  }

  /** LoadCollections: the queued events, one Collection per session. */
  loadCollections(): Collection[] {
    return [...this.groupBySession().values()].map((events) => this.collectionOf(events));
  }

  /** LoadNumberPerSession: the last nr handed out per session. */
  loadNumberPerSession(): Record<string, number> {
    return { ...this.numbers };
  }

  /** LoadLastSyncTime: epoch ms of the last 200 (or of the first start, before any). */
  loadLastSyncTime(): number {
    return this.lastSyncTime;
  }

  /** Events queued and not yet confirmed. */
  get pending(): number {
    return this.queue.size;
  }

  /**
   * TrackEvent: stamps `at` (epoch seconds), `nr` (the session's next serial) and
   * `ip` (when configured), and resolves once the event is in durable storage.
   * Then starts a send in the background when queue_size or queue_retention says so.
   */
  async trackEvent(event: string, options: TrackEventOptions = {}): Promise<void> {
    if (this.closed) throw new Error("ClientTracker is closed");
    const session = this.info.session;
    const nr = (this.numbers[session] ?? 0) + 1;
    this.numbers[session] = nr;
    const ip = this.options.ip?.();
    const stored: StoredEvent = {
      info: this.info,
      at: Math.floor(this.now() / 1000),
      event,
      nr,
      ...(options.userId !== undefined ? { userId: options.userId } : {}),
      ...(ip ? { ip } : {}),
      ...(options.params !== undefined ? { parameters: options.params } : {}),
      isTesting: options.isTesting ?? false,
      sent: false,
    };
    await this.storage.append(stored);
    this.queue.set(keyOf({ session, nr }), stored);
    if (this.shouldSend() && !this.sending && !this.retryTimer) {
      void this.send().catch((error: unknown) => this.options.onError?.(error));
    }
  }

  private shouldSend(): boolean {
    return this.queue.size >= this.queueSize || this.lastSyncTime < this.now() - this.queueRetentionMinutes * 60_000;
  }

  /** Sends every queued event now (one Collection per session per request) and reports what happened. */
  async flush(): Promise<FlushResult> {
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
    while (this.sending) await this.sending.catch(() => undefined);
    return this.send();
  }

  /** Stops background sends, waits for one in flight and closes the storage. Queued events stay stored for the next start. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    while (this.sending) await this.sending.catch(() => undefined);
    await this.storage.close();
  }

  private send(): Promise<FlushResult> {
    const run = this.sendAll().finally(() => (this.sending = undefined));
    this.sending = run;
    return run;
  }

  private groupBySession(): Map<string, StoredEvent[]> {
    const groups = new Map<string, StoredEvent[]>();
    for (const event of this.queue.values()) {
      const list = groups.get(event.info.session);
      if (list) list.push(event);
      else groups.set(event.info.session, [event]);
    }
    for (const list of groups.values()) list.sort((a, b) => a.nr - b.nr);
    return groups;
  }

  private collectionOf(events: StoredEvent[]): Collection {
    const info = events[0]!.info;
    return create(CollectionSchema, {
      deviceId: info.deviceId,
      clientId: info.clientId,
      session: info.session,
      systemVersion: info.systemVersion,
      productVersion: info.productVersion,
      ...(info.system !== undefined ? { system: info.system } : {}),
      ...(info.productGitHash !== undefined ? { productGitHash: info.productGitHash } : {}),
      payloads: events.map((event) =>
        create(PayloadSchema, {
          at: BigInt(event.at),
          event: event.event,
          nr: event.nr,
          ...(event.userId !== undefined ? { userId: event.userId } : {}),
          ...(event.ip !== undefined ? { ip: event.ip } : {}),
          ...(event.parameters !== undefined ? { parameters: event.parameters } : {}),
          isTesting: event.isTesting,
        }),
      ),
    });
  }

  private async sendAll(): Promise<FlushResult> {
    const limit = this.options.maxEventsPerRequest ?? 500;
    let delivered = 0;
    for (const events of this.groupBySession().values()) {
      for (let i = 0; i < events.length; i += limit) {
        const chunk = events.slice(i, i + limit);
        try {
          await this.post(chunk);
        } catch (error) {
          this.scheduleRetry(error instanceof CollectorError ? error.retryAfterMs : undefined);
          this.options.onError?.(error);
          return { delivered, pending: this.queue.size, error };
        }
        delivered += chunk.length;
      }
    }
    this.attempt = 0;
    return { delivered, pending: this.queue.size };
  }

  /** Posts one Collection; deletes its events only on a 200. */
  private async post(events: StoredEvent[]): Promise<void> {
    const keys: EventKey[] = events.map((event) => ({ session: event.info.session, nr: event.nr }));
    const unsent = events.filter((event) => !event.sent);
    if (unsent.length > 0) {
      await this.storage.markSent(unsent.map((event) => ({ session: event.info.session, nr: event.nr })));
      for (const event of unsent) event.sent = true;
    }
    const body = toBinary(CollectionSchema, this.collectionOf(events));
    const time = String(Math.floor(this.now() / 1000));
    const controller = new AbortController();
    const timeout = setTimeout(() => controller.abort(), this.options.requestTimeoutMs ?? 30_000);
    let status: number;
    let retryAfter: string | null = null;
    try {
      const response = await this.fetchImpl(this.url, {
        method: "POST",
        headers: {
          "Content-Type": "application/protobuf",
          "X-Hamustro-Time": time,
          "X-Hamustro-Signature": signature(time, body, this.options.sharedSecret),
        },
        body,
        signal: controller.signal,
      });
      status = response.status;
      if (asksToWait(status)) retryAfter = response.headers.get("retry-after");
      await response.arrayBuffer().catch(() => undefined);
    } finally {
      clearTimeout(timeout);
    }
    if (status !== 200) {
      throw new CollectorError(status, retryAfterMs(retryAfter, { now: this.now(), maxMs: this.options.retry?.maxDelayMs ?? 300_000 }));
    }
    await this.storage.remove(keys);
    for (const key of keys) this.queue.delete(keyOf(key));
    this.lastSyncTime = this.now();
    await this.storage.setLastSyncTime(this.lastSyncTime);
  }

  /**
   * Exponential backoff with ("equal") jitter: a random delay in [c/2, c] for
   * c = min(max, initial · 2^attempt), and never shorter than the collector's
   * Retry-After (already bounded by max) when it sent one.
   */
  private scheduleRetry(retryAfterMs?: number): void {
    if (this.closed) return;
    const initial = this.options.retry?.initialDelayMs ?? 1_000;
    const max = this.options.retry?.maxDelayMs ?? 300_000;
    const ceiling = Math.min(max, initial * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    const delay = Math.max(retryAfterMs ?? 0, Math.round(ceiling / 2 + (Math.random() * ceiling) / 2));
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.closed || this.sending || this.queue.size === 0) return;
      void this.send().catch((error: unknown) => this.options.onError?.(error));
    }, delay);
    // Never keep a Node process alive just to retry.
    (this.retryTimer as { unref?: () => void }).unref?.();
  }
}
