// The DI legacy HTTP dialect from the agent's side (seeds/002): POST /online,
// /update, /heartbeat with X-DI-DEVICEID / X-DI-TOKEN headers and JSON bodies.
import { asksToWait, defaultRetryAfterCeilingMs, retryAfterMs } from "../retry-after.js";

export interface DeviceInfo {
  devicename: string;
  ip: string;
  macaddress: string;
  os: string;
}

export interface ServerCommand {
  /** int64 as decimal text, exact. */
  id: string;
  type: number;
  content: string;
}

export interface ServerAnswer {
  token: string;
  command: ServerCommand[];
  /** Seconds; 0 when the server did not say. */
  interval: number;
  jitter: number;
}

export interface ResultReport {
  id: string;
  returnCode: number;
  reason: string;
}

export type Exchange =
  | { ok: true; status: 200; answer: ServerAnswer }
  /** retryAfterMs: with 429 or 503, the wait the server's Retry-After asked for (bounded). */
  | { ok: false; status: number; error?: unknown; retryAfterMs?: number };

/**
 * JSON.parse, except that the value of every "id" key that is a bare integer
 * becomes a string first, so int64 command ids beyond 2^53 stay exact.
 */
export function parseAnswerJson(text: string): unknown {
  let out = "";
  let last = 0;
  let i = 0;
  while (i < text.length) {
    if (text[i] !== '"') {
      i++;
      continue;
    }
    let j = i + 1;
    while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
    const token = text.slice(i, j + 1);
    i = j + 1;
    if (token !== '"id"') continue;
    const match = /^\s*:\s*(-?\d+)(?![\d.eE])/.exec(text.slice(i, i + 64));
    if (!match) continue;
    const numberStart = i + match[0].length - match[1]!.length;
    out += text.slice(last, numberStart) + `"${match[1]}"`;
    i = last = numberStart + match[1]!.length;
  }
  return JSON.parse(out + text.slice(last));
}

/** The server's answer body → ServerAnswer (`"command": {}` means none). */
export function readAnswer(text: string): ServerAnswer {
  const body = parseAnswerJson(text) as Record<string, unknown>;
  if (typeof body !== "object" || body === null || typeof body.token !== "string") throw new Error("answer without a token");
  let raw: unknown[] = [];
  if (Array.isArray(body.command)) raw = body.command;
  else if (typeof body.command === "object" && body.command !== null) {
    const values = Object.values(body.command);
    raw = "id" in body.command ? [body.command] : values;
  }
  const command = raw.map((c) => {
    const entry = c as Record<string, unknown>;
    const id = typeof entry.id === "string" || typeof entry.id === "number" ? String(entry.id) : "";
    if (!/^-?\d+$/.test(id)) throw new Error("command without an id");
    return { id, type: Number(entry.type ?? 0) | 0, content: typeof entry.content === "string" ? entry.content : "" };
  });
  const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) && v > 0 ? v : 0);
  return { token: body.token, command, interval: num(body.interval), jitter: num(body.jitter) };
}

/** The heartbeat body: `{"result":[…]}` with ids as JSON numbers. */
export function heartbeatBody(results: readonly ResultReport[]): string {
  const items = results.map((r) => `{"id":${r.id},"return":${r.returnCode | 0},"reason":${JSON.stringify(r.reason)}}`);
  return `{"result":[${items.join(",")}]}`;
}

export interface LegacyClientOptions {
  server: string;
  /** Per request; default 30 s. */
  timeoutMs?: number;
  /** Longest wait a Retry-After may ask for (ms); default 10 min. */
  maxRetryAfterMs?: number;
}

export class LegacyAgentClient {
  constructor(private readonly options: LegacyClientOptions) {}

  private async post(pathName: string, headers: Record<string, string>, body: string): Promise<Exchange> {
    const url = new URL(pathName, this.options.server);
    let response: Response;
    try {
      response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body,
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000),
      });
    } catch (error) {
      return { ok: false, status: 0, error };
    }
    const text = await response.text().catch(() => "");
    // On anything but 200 the seed says: ignore the body (but not a 429/503's Retry-After).
    if (response.status !== 200) {
      const wait = asksToWait(response.status) ? retryAfterMs(response.headers.get("retry-after"), { maxMs: this.options.maxRetryAfterMs ?? defaultRetryAfterCeilingMs }) : undefined;
      return wait === undefined ? { ok: false, status: response.status } : { ok: false, status: response.status, retryAfterMs: wait };
    }
    try {
      return { ok: true, status: 200, answer: readAnswer(text) };
    } catch (error) {
      return { ok: false, status: 0, error };
    }
  }

  online(deviceId: string, info: DeviceInfo, token: string, enrollSecret?: string): Promise<Exchange> {
    const headers: Record<string, string> = { "x-di-deviceid": deviceId };
    if (token) headers["x-di-token"] = token;
    if (enrollSecret) headers["x-di-enroll-secret"] = enrollSecret;
    return this.post("/online", headers, JSON.stringify(info));
  }

  update(deviceId: string, token: string, info: DeviceInfo): Promise<Exchange> {
    return this.post("/update", { "x-di-deviceid": deviceId, "x-di-token": token }, JSON.stringify(info));
  }

  heartbeat(deviceId: string, token: string, results: readonly ResultReport[]): Promise<Exchange> {
    return this.post("/heartbeat", { "x-di-deviceid": deviceId, "x-di-token": token }, heartbeatBody(results));
  }
}
