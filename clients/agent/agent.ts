// The endpoint agent ("probe" in seeds/002): registers at start, heartbeats every
// interval with jitter, keeps its token in its config file, re-registers on 401,
// reports info changes with /update, runs commands at most once each (across
// restarts too) and reports their results on the next heartbeat. A 429 or 503
// ("come back later") is not a failure: the agent waits at least as long as the
// answer's Retry-After asks (bounded) before it calls again.
import {
  type DeviceInfo,
  type Exchange,
  LegacyAgentClient,
  type ResultReport,
  type ServerAnswer,
  type ServerCommand,
} from "./legacy.js";
import { asksToWait } from "../retry-after.js";
import { type AgentState, type CommandOutcome, readState, writeState } from "./state.js";

export type { DeviceInfo, ServerCommand } from "./legacy.js";

export interface CommandResult {
  /** 0 ok, 1 command failed (the seed's `return`). */
  returnCode: number;
  reason: string;
}

export type CommandHandler = (command: ServerCommand) => Promise<CommandResult> | CommandResult;

/** Type 1 and 2 of the seed: start / stop event recording; `content` carries the parameters. */
export interface RecordingHooks {
  start(content: string, command: ServerCommand): Promise<CommandResult | void> | CommandResult | void;
  stop(content: string, command: ServerCommand): Promise<CommandResult | void> | CommandResult | void;
}

export interface AgentLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

export interface AgentOptions {
  /** The config file (created by the caller with server and deviceId; see readState). */
  configFile: string;
  /** Current device information; asked before every heartbeat. */
  info: () => DeviceInfo | Promise<DeviceInfo>;
  recording?: RecordingHooks;
  /** Handlers for other command types (they may also replace 1 and 2). */
  handlers?: Record<number, CommandHandler>;
  /** Used until the server says otherwise. Seconds. */
  intervalSeconds?: number;
  jitterSeconds?: number;
  /** Pause between failed registrations (ms). Default 10 s. */
  registerRetryMs?: number;
  /** Consecutive failed registrations before giving up (the seed says 3); 429/503 answers do not count. */
  maxRegisterFailures?: number;
  requestTimeoutMs?: number;
  /** Longest wait a server's Retry-After may impose (ms). Default 10 min. */
  maxRetryAfterMs?: number;
  logger?: AgentLogger;
  random?: () => number;
}

export class RegistrationFailedError extends Error {
  override name = "RegistrationFailedError";
}

const silent: AgentLogger = { info() {}, warn() {} };

export class Agent {
  private state!: AgentState;
  private client!: LegacyAgentClient;
  private lastInfo: DeviceInfo | undefined;
  private interval: number;
  private jitter: number;
  private stopped = false;
  private wake: (() => void) | undefined;
  /** The next call waits at least this long (ms): the last 429/503's Retry-After. */
  private holdOffMs = 0;
  private readonly log: AgentLogger;
  /** Counters, for callers and tests. */
  readonly stats = { registrations: 0, heartbeats: 0, updates: 0, commandsRun: 0 };

  constructor(private readonly options: AgentOptions) {
    this.interval = options.intervalSeconds ?? 60;
    this.jitter = options.jitterSeconds ?? 0;
    this.log = options.logger ?? silent;
  }

  get token(): string {
    return this.state.token;
  }

  /** Loads the config file; registers; then heartbeats until stop(). Rejects with RegistrationFailedError after too many failed registrations. */
  async run(): Promise<void> {
    const state = await readState(this.options.configFile);
    if (!state) throw new Error(`${this.options.configFile} does not exist`);
    this.state = state;
    this.client = new LegacyAgentClient({
      server: state.server,
      timeoutMs: this.options.requestTimeoutMs ?? 30_000,
      ...(this.options.maxRetryAfterMs !== undefined ? { maxRetryAfterMs: this.options.maxRetryAfterMs } : {}),
    });
    await this.register();
    while (!this.stopped) {
      await this.sleep(Math.max(this.nextDelayMs(), this.takeHoldOff()));
      if (this.stopped) break;
      await this.beat();
    }
  }

  stop(): void {
    this.stopped = true;
    this.wake?.();
  }

  /** The server asked to come back later: remember how long (the next sleep waits at least that). */
  private holdOff(exchange: Exchange): boolean {
    if (exchange.ok || exchange.retryAfterMs === undefined) return false;
    this.holdOffMs = Math.max(this.holdOffMs, exchange.retryAfterMs);
    return true;
  }

  private takeHoldOff(): number {
    const ms = this.holdOffMs;
    this.holdOffMs = 0;
    return ms;
  }

  private nextDelayMs(): number {
    const random = this.options.random ?? Math.random;
    const spread = (random() * 2 - 1) * this.jitter;
    return Math.max(100, Math.round((this.interval + spread) * 1000));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  /** One heartbeat round: /update first when the info changed. */
  private async beat(): Promise<void> {
    const info = await this.options.info();
    if (!sameInfo(info, this.lastInfo)) {
      const exchange = await this.client.update(this.state.deviceId, this.state.token, info);
      this.stats.updates++;
      if (exchange.ok) {
        this.lastInfo = info;
        await this.accept(exchange.answer);
      } else if (exchange.status === 401) {
        this.log.warn("update refused (401): registering again");
        return this.register();
      } else if (this.holdOff(exchange)) {
        // No heartbeat right after a "come back later".
        this.log.warn("update deferred by the server", describe(exchange));
        return;
      } else {
        this.log.warn("update failed", describe(exchange));
      }
    }
    const reports = this.reports();
    const exchange = await this.client.heartbeat(this.state.deviceId, this.state.token, reports);
    this.stats.heartbeats++;
    if (exchange.ok) {
      const sent = new Set(reports.map((r) => r.id));
      this.state.unreported = this.state.unreported.filter((id) => !sent.has(id));
      if (sent.size > 0) await this.save();
      await this.accept(exchange.answer);
    } else if (exchange.status === 401) {
      this.log.warn("heartbeat refused (401): registering again");
      await this.register();
    } else if (this.holdOff(exchange)) {
      this.log.warn("heartbeat deferred by the server", describe(exchange));
    } else {
      this.log.warn("heartbeat failed", describe(exchange));
    }
  }

  /** /online until it works; the seed's rule: give up after 3 consecutive failures. */
  private async register(): Promise<void> {
    const max = this.options.maxRegisterFailures ?? 3;
    for (let failures = 0; ; ) {
      const info = await this.options.info();
      const exchange = await this.client.online(this.state.deviceId, info, this.state.token, this.state.enrollSecret);
      if (exchange.ok) {
        this.stats.registrations++;
        this.lastInfo = info;
        this.log.info("registered", { deviceId: this.state.deviceId });
        return this.accept(exchange.answer);
      }
      const retryMs = this.options.registerRetryMs ?? 10_000;
      if (!this.stopped && asksToWait(exchange.status)) {
        // Not refused, only "come back later" (429/503): it does not count, and
        // the next try waits at least as long as a Retry-After asks.
        this.holdOff(exchange);
        this.log.warn("registration deferred by the server", describe(exchange));
        await this.sleep(Math.max(retryMs, this.takeHoldOff()));
        continue;
      }
      failures++;
      this.log.warn("registration failed", { ...describe(exchange), failures });
      if (failures >= max || this.stopped) {
        throw new RegistrationFailedError(`registration failed ${failures} times in a row (last status ${exchange.status || "no answer"})`);
      }
      await this.sleep(retryMs);
    }
  }

  /** A 200 answer: save a new token before anything else uses it, then run the commands. */
  private async accept(answer: ServerAnswer): Promise<void> {
    if (answer.interval > 0) this.interval = answer.interval;
    if (answer.jitter >= 0 && answer.interval > 0) this.jitter = answer.jitter;
    if (answer.token !== this.state.token) {
      this.state.token = answer.token;
      await this.save();
    }
    for (const command of answer.command) await this.runOnce(command);
  }

  private async runOnce(command: ServerCommand): Promise<void> {
    const known = this.state.executed.find((e) => e.id === command.id);
    if (known) {
      // Delivered again: the server has not seen our result. Report it (again); never rerun.
      if (!known.returnCode && known.returnCode !== 0) {
        known.returnCode = 1;
        known.reason = "the agent stopped while this command ran; it is not run twice";
      }
      if (!this.state.unreported.includes(command.id)) this.state.unreported.push(command.id);
      await this.save();
      this.log.warn("command delivered again: reporting its result, not running it twice", { id: command.id, type: command.type, returnCode: known.returnCode });
      return;
    }
    const outcome: CommandOutcome = { id: command.id };
    this.state.executed.push(outcome);
    await this.save(); // persisted before it runs: a crash from here on never reruns it
    this.log.info("running command", { id: command.id, type: command.type });
    let result: CommandResult;
    try {
      result = await this.handle(command);
    } catch (error) {
      result = { returnCode: 1, reason: error instanceof Error ? error.message : String(error) };
    }
    this.stats.commandsRun++;
    outcome.returnCode = result.returnCode === 0 ? 0 : 1;
    outcome.reason = truncateChars(result.reason, 256);
    this.state.unreported.push(command.id);
    await this.save();
    const done = { id: command.id, type: command.type, returnCode: outcome.returnCode, reason: outcome.reason };
    if (outcome.returnCode === 0) this.log.info("command succeeded", done);
    else this.log.warn("command failed", done);
  }

  private async handle(command: ServerCommand): Promise<CommandResult> {
    const custom = this.options.handlers?.[command.type];
    if (custom) return custom(command);
    const hooks = this.options.recording;
    if ((command.type === 1 || command.type === 2) && hooks) {
      const result = command.type === 1 ? await hooks.start(command.content, command) : await hooks.stop(command.content, command);
      return result ?? { returnCode: 0, reason: "ok" };
    }
    return { returnCode: 1, reason: `no handler for command type ${command.type}` };
  }

  private reports(): ResultReport[] {
    const reports: ResultReport[] = [];
    for (const id of this.state.unreported) {
      const outcome = this.state.executed.find((e) => e.id === id);
      if (outcome && outcome.returnCode !== undefined) reports.push({ id, returnCode: outcome.returnCode, reason: outcome.reason ?? "" });
    }
    return reports;
  }

  private save(): Promise<void> {
    return writeState(this.options.configFile, this.state);
  }
}

function sameInfo(a: DeviceInfo, b: DeviceInfo | undefined): boolean {
  return !!b && a.devicename === b.devicename && a.ip === b.ip && a.macaddress === b.macaddress && a.os === b.os;
}

function describe(exchange: Exchange): Record<string, unknown> {
  if (exchange.ok) return { status: 200 };
  return {
    status: exchange.status,
    ...(exchange.error ? { error: describeError(exchange.error) } : {}),
    ...(exchange.retryAfterMs !== undefined ? { retryAfterMs: exchange.retryAfterMs } : {}),
  };
}

/**
 * An error with its causes: fetch says only "fetch failed", its cause says why
 * ("connect ECONNREFUSED 127.0.0.1:6011", a TLS or DNS failure).
 */
export function describeError(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  while (current !== undefined && current !== null && parts.length < 5) {
    const text = current instanceof Error ? current.message : String(current);
    if (text !== "" && !parts.includes(text)) parts.push(text);
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join(": ");
}

/** At most `limit` code points. */
export function truncateChars(text: string, limit: number): string {
  const chars = Array.from(text);
  return chars.length <= limit ? text : chars.slice(0, limit).join("");
}
