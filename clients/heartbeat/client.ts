// The update-heartbeat client (seed 000, SPEC §2): reports machine, installation,
// version and OS to the server 10 s after start and then every 60 min, learns the
// newest version, and tells the app when an update is available.
//
// Beyond the seed's client: jitter on every wait (a fleet that booted together
// does not call together), retry with exponential backoff on failures that may be
// temporary (never sooner than a 429/503's Retry-After), the server's interval honoured, a correct version comparison, and an
// opt-out that switches off both the heartbeat and the automatic update check
// while `checkNow()` keeps working for the user who asks.
import { homedir, release as osRelease, type as osType } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { HeartbeatService } from "@fleetbeat/proto/fleetbeat/heartbeat/v1/heartbeat_pb.js";
import { asksToWait, retryAfterMs } from "../retry-after.js";
import { loadIdentity, type Identity } from "./identity.js";
import { isNewerVersion } from "../../shared/version.js";

export interface RetryOptions {
  /** Attempts per heartbeat, the first included. Default 4. */
  attempts: number;
  /** Wait before the first retry; doubles each time. Default 5 s. */
  initialBackoffMs: number;
  /** Longest wait between retries; also bounds the wait a Retry-After asks for. Default 5 min. */
  maxBackoffMs: number;
}

export interface HeartbeatClientOptions {
  /** The server, e.g. "https://updates.example.com" (no trailing path). */
  baseUrl: string;
  /** The app's installed version, sent as versionInfo. */
  version: string;
  /** Sent only when set; the server's defaults apply otherwise. */
  product?: string;
  channel?: string;
  /**
   * "legacy": POST /hb/newHb with the seed's JSON body (any seed-compatible server).
   * "connect": HeartbeatService.NewHb over Connect JSON (fleetbeat). Default "legacy".
   */
  protocol?: "legacy" | "connect";
  /** Where the installation id (and a random machine id) are kept. Default ~/.fleetbeat/heartbeat.json. */
  stateFile?: string;
  /** The user's opt-out: no heartbeat and no automatic update check. Default false. */
  optedOut?: boolean;
  /** First heartbeat after start. Default 10 s (the seed's). */
  initialDelayMs?: number;
  /** Between heartbeats. Default 60 min (the seed's). */
  intervalMs?: number;
  /** Use the interval the server answers (bounded to 1 min … 7 days). Default true. */
  followServerInterval?: boolean;
  /** Each wait is multiplied by a random factor in [1 − jitter, 1 + jitter]. Default 0.1. */
  jitter?: number;
  retry?: Partial<RetryOptions>;
  /** Per request. Default 15 s. */
  requestTimeoutMs?: number;
  /** Send sha256hex(machine id) instead of the id itself. Default false. */
  hashMachineId?: boolean;
  /** Called once per newly seen newer version. */
  onUpdateAvailable?: (update: UpdateInfo) => void;
  /** Called when a scheduled heartbeat finally fails (after its retries). */
  onError?: (error: Error) => void;

  // Injectable for tests and unusual systems.
  platform?: string;
  cpuinfoPath?: string;
  serialNumberPath?: string;
  osType?: string;
  osVersion?: string;
  random?: () => number;
}

export interface UpdateInfo {
  currentVersion: string;
  newestVersion: string;
}

export interface CheckResult {
  /** The newest version the server offers this installation. */
  newestVersion: string;
  /** newestVersion is newer than our version (compared by shared/version.ts). */
  updateAvailable: boolean;
  /** Seconds the server asks us to wait between heartbeats (0 when it did not say). */
  intervalSeconds: number;
  /** False for an opted-out checkNow(): no ids were sent. */
  identified: boolean;
}

/** An answer that retrying will not change (a 4xx other than 408/429). */
export class HeartbeatRejectedError extends Error {
  override name = "HeartbeatRejectedError";
  constructor(
    message: string,
    /** The HTTP status (legacy protocol) or the Connect code (connect protocol). */
    readonly status: number,
  ) {
    super(message);
  }
}

/** The server asked to come back later (429 / 503, or Connect unavailable / resource_exhausted) and said when. */
export class HeartbeatRetryLaterError extends Error {
  override name = "HeartbeatRetryLaterError";
  constructor(
    message: string,
    /** The wait the server's Retry-After asked for (ms), bounded by retry.maxBackoffMs. */
    readonly retryAfterMs: number,
  ) {
    super(message);
  }
}

const MIN_SERVER_INTERVAL_MS = 60_000;
const MAX_SERVER_INTERVAL_MS = 7 * 24 * 3600_000;

interface Resolved {
  initialDelayMs: number;
  intervalMs: number;
  jitter: number;
  retry: RetryOptions;
  requestTimeoutMs: number;
  followServerInterval: boolean;
  random: () => number;
}

export class HeartbeatClient {
  private readonly options: HeartbeatClientOptions;
  private readonly settings: Resolved;
  private identityPromise: Promise<Identity> | undefined;
  private connectClient: Client<typeof HeartbeatService> | undefined;
  private optedOut: boolean;
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  /** Bumped by stop()/opt-out so a cycle in flight does not reschedule itself. */
  private generation = 0;
  private nextIntervalMs: number;
  private notifiedVersion: string | undefined;
  private last: CheckResult | undefined;
  private inFlight: AbortController | undefined;

  constructor(options: HeartbeatClientOptions) {
    if (!options.baseUrl) throw new TypeError("baseUrl is required");
    if (typeof options.version !== "string") throw new TypeError("version is required");
    this.options = options;
    this.optedOut = options.optedOut ?? false;
    this.settings = {
      initialDelayMs: options.initialDelayMs ?? 10_000,
      intervalMs: options.intervalMs ?? 3_600_000,
      jitter: Math.min(Math.max(options.jitter ?? 0.1, 0), 1),
      retry: { attempts: 4, initialBackoffMs: 5_000, maxBackoffMs: 300_000, ...options.retry },
      requestTimeoutMs: options.requestTimeoutMs ?? 15_000,
      followServerInterval: options.followServerInterval ?? true,
      random: options.random ?? Math.random,
    };
    this.nextIntervalMs = this.settings.intervalMs;
  }

  /** Starts the schedule (unless opted out): first heartbeat after initialDelayMs, jittered. */
  start(): void {
    if (this.running) return;
    this.running = true;
    if (!this.optedOut) this.schedule(this.settings.initialDelayMs);
  }

  /** Stops the schedule and abandons a heartbeat in flight. */
  stop(): void {
    this.running = false;
    this.cancel();
  }

  get isOptedOut(): boolean {
    return this.optedOut;
  }

  /**
   * The user's switch. Opting out stops the heartbeat and the automatic update
   * check at once (a request in flight is abandoned); opting back in sends again
   * after the initial delay.
   */
  setOptedOut(optedOut: boolean): void {
    if (optedOut === this.optedOut) return;
    this.optedOut = optedOut;
    if (optedOut) this.cancel();
    else if (this.running) this.schedule(this.settings.initialDelayMs);
  }

  /** The last answer, if any. */
  get lastResult(): CheckResult | undefined {
    return this.last;
  }

  /** The identity sent with heartbeats (created and persisted on first use). */
  identity(): Promise<Identity> {
    this.identityPromise ??= loadIdentity(
      {
        stateFile: this.options.stateFile ?? join(homedir(), ".fleetbeat", "heartbeat.json"),
        cpuinfoPath: this.options.cpuinfoPath ?? "/proc/cpuinfo",
        serialNumberPath: this.options.serialNumberPath ?? "/sys/firmware/devicetree/base/serial-number",
        platform: this.options.platform ?? process.platform,
      },
      { hashMachineId: this.options.hashMachineId ?? false },
    ).catch((error: unknown) => {
      this.identityPromise = undefined;
      throw error;
    });
    return this.identityPromise;
  }

  /**
   * A user-initiated check, one attempt, errors thrown. Works when opted out: then
   * it sends only the version (and product/channel), no machine or installation id,
   * and the server stores nothing.
   */
  async checkNow(): Promise<CheckResult> {
    const result = await this.send(!this.optedOut, new AbortController());
    this.accept(result);
    return result;
  }

  private cancel(): void {
    this.generation++;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.inFlight?.abort();
    this.inFlight = undefined;
  }

  private jittered(ms: number): number {
    const { jitter, random } = this.settings;
    return Math.max(0, Math.round(ms * (1 - jitter + 2 * jitter * random())));
  }

  private schedule(delayMs: number): void {
    if (this.timer) clearTimeout(this.timer);
    const generation = this.generation;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.cycle(generation);
    }, this.jittered(delayMs));
    // A heartbeat never keeps the app alive on its own.
    this.timer.unref();
  }

  private sleep(ms: number, generation: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(generation === this.generation), ms);
      timer.unref();
      this.timer = timer;
    });
  }

  /** One scheduled heartbeat with its retries, then the next one is scheduled. */
  private async cycle(generation: number): Promise<void> {
    const { attempts, initialBackoffMs, maxBackoffMs } = this.settings.retry;
    let lastError: Error | undefined;
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (generation !== this.generation || this.optedOut || !this.running) return;
      const controller = new AbortController();
      this.inFlight = controller;
      try {
        const result = await this.send(true, controller);
        if (generation !== this.generation) return;
        this.accept(result);
        lastError = undefined;
        break;
      } catch (error) {
        if (generation !== this.generation) return;
        lastError = error instanceof Error ? error : new Error(String(error));
        if (error instanceof HeartbeatRejectedError || attempt + 1 >= attempts) break;
        const backoff = this.jittered(Math.min(maxBackoffMs, initialBackoffMs * 2 ** attempt));
        // Never sooner than the server asked.
        const wait = error instanceof HeartbeatRetryLaterError ? Math.max(backoff, error.retryAfterMs) : backoff;
        if (!(await this.sleep(wait, generation))) return;
      } finally {
        if (this.inFlight === controller) this.inFlight = undefined;
      }
    }
    if (generation !== this.generation || !this.running || this.optedOut) return;
    if (lastError) this.options.onError?.(lastError);
    this.schedule(this.nextIntervalMs);
  }

  private accept(result: CheckResult): void {
    this.last = result;
    if (this.settings.followServerInterval && result.intervalSeconds > 0) {
      this.nextIntervalMs = Math.min(MAX_SERVER_INTERVAL_MS, Math.max(MIN_SERVER_INTERVAL_MS, result.intervalSeconds * 1000));
    }
    if (result.updateAvailable && result.newestVersion !== this.notifiedVersion) {
      this.notifiedVersion = result.newestVersion;
      this.options.onUpdateAvailable?.({ currentVersion: this.options.version, newestVersion: result.newestVersion });
    }
  }

  private async send(identified: boolean, controller: AbortController): Promise<CheckResult> {
    const identity = identified ? await this.identity() : undefined;
    const body: Record<string, string> = {
      versionInfo: this.options.version,
      machineId: identity?.machineId ?? "",
      hbId: identity?.installationId ?? "",
      osType: identified ? (this.options.osType ?? osType()) : "",
      osVersion: identified ? (this.options.osVersion ?? osRelease()) : "",
      country: "notSet",
      region: "notSet",
    };
    if (this.options.product) body.product = this.options.product;
    if (this.options.channel) body.channel = this.options.channel;
    const timeout = setTimeout(() => controller.abort(new Error(`no answer within ${this.settings.requestTimeoutMs} ms`)), this.settings.requestTimeoutMs);
    try {
      const answer = this.options.protocol === "connect" ? await this.sendConnect(body, controller.signal) : await this.sendLegacy(body, controller.signal);
      return {
        newestVersion: answer.actualVersion,
        updateAvailable: answer.actualVersion !== "" && isNewerVersion(answer.actualVersion, this.options.version),
        intervalSeconds: answer.intervalSeconds,
        identified,
      };
    } finally {
      clearTimeout(timeout);
    }
  }

  /** A Retry-After value as a wait in ms, bounded by retry.maxBackoffMs; undefined without a valid one. */
  private retryAfter(value: string | null): number | undefined {
    return retryAfterMs(value, { maxMs: this.settings.retry.maxBackoffMs });
  }

  private async sendLegacy(body: Record<string, string>, signal: AbortSignal): Promise<{ actualVersion: string; intervalSeconds: number }> {
    const url = `${this.options.baseUrl.replace(/\/+$/, "")}/hb/newHb`;
    const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal });
    const text = await response.text();
    if (response.status !== 200) {
      const message = `POST /hb/newHb answered ${response.status}: ${text.slice(0, 200)}`;
      const wait = asksToWait(response.status) ? this.retryAfter(response.headers.get("retry-after")) : undefined;
      if (wait !== undefined) throw new HeartbeatRetryLaterError(message, wait);
      if (response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429) {
        throw new HeartbeatRejectedError(message, response.status);
      }
      throw new Error(message);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new Error(`POST /hb/newHb answered 200 with a body that is not JSON: ${text.slice(0, 200)}`);
    }
    const answer = (parsed ?? {}) as { actualVersion?: unknown; intervalSeconds?: unknown };
    return {
      actualVersion: typeof answer.actualVersion === "string" ? answer.actualVersion : typeof answer.actualVersion === "number" ? String(answer.actualVersion) : "",
      intervalSeconds: typeof answer.intervalSeconds === "number" && Number.isFinite(answer.intervalSeconds) ? answer.intervalSeconds : 0,
    };
  }

  private async sendConnect(body: Record<string, string>, signal: AbortSignal): Promise<{ actualVersion: string; intervalSeconds: number }> {
    this.connectClient ??= createClient(HeartbeatService, createConnectTransport({ baseUrl: this.options.baseUrl, httpVersion: "1.1" }));
    try {
      return await this.connectClient.newHb(body, { signal });
    } catch (error) {
      const connectError = ConnectError.from(error);
      const retryable = [Code.Unavailable, Code.ResourceExhausted, Code.DeadlineExceeded, Code.Unknown, Code.Internal, Code.Aborted, Code.Canceled];
      if (!retryable.includes(connectError.code)) throw new HeartbeatRejectedError(connectError.message, connectError.code);
      const asksLater = connectError.code === Code.Unavailable || connectError.code === Code.ResourceExhausted;
      const wait = asksLater ? this.retryAfter(connectError.metadata.get("retry-after")) : undefined;
      if (wait !== undefined) throw new HeartbeatRetryLaterError(connectError.message, wait);
      throw connectError;
    }
  }
}
