// How the clients read a server's "come back later": 429 and 503 with a
// Retry-After header (RFC 9110 §10.2.3), either delta-seconds ("5") or an
// HTTP-date ("Wed, 21 Oct 2026 07:28:00 GMT"). Shared by clients/tracker,
// clients/heartbeat and clients/agent; no dependencies, so any client may use it.

/** Longest wait a Retry-After may impose unless the caller bounds it otherwise: 10 minutes. */
export const defaultRetryAfterCeilingMs = 10 * 60_000;

/** True for the statuses that ask the client to wait and try again: 429 and 503. */
export function asksToWait(status: number): boolean {
  return status === 429 || status === 503;
}

/**
 * The wait a Retry-After value asks for, in milliseconds, at most `maxMs`
 * (default 10 minutes); undefined when the header is absent or not valid. A
 * date in the past asks for no wait (0).
 */
export function retryAfterMs(value: string | null | undefined, options: { now?: number; maxMs?: number } = {}): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  let ms: number;
  if (/^\d+$/.test(text)) ms = Number(text) * 1000;
  else {
    // Only a date with a weekday or month name: Date.parse also takes "5.5" or "1e3", which are not HTTP-dates.
    if (!/[a-z]{3}/i.test(text)) return undefined;
    const at = Date.parse(text);
    if (Number.isNaN(at)) return undefined;
    ms = at - (options.now ?? Date.now());
  }
  return Math.min(Math.max(0, ms), options.maxMs ?? defaultRetryAfterCeilingMs);
}
