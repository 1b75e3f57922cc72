// The fleet of the console-lists bench (bench/console-lists.bench.ts), seeded by
// bench/agent-seed.ts --fill=console: device i keeps the agent bench's id
// (fleetDeviceId), and gets a name of one of four families, labels on a fraction
// and a last_seen spread so that about 30 % are online. Deterministic, so the
// seed and the bench agree on what each query should find.

/** Sites of the `srv-<site>-<k>` family: at 1,000,000 devices each site has 10,000. */
export const SITES = [
  "ams", "ber", "bos", "cdg", "cph", "dub", "fra", "gru", "hel", "iad", "jfk", "lax", "lhr",
  "lis", "mad", "mxp", "nrt", "ord", "osl", "prg", "sea", "sfo", "sin", "syd", "vie",
] as const;

/** Labels and the share of devices carrying each. */
export const LABELS = { beta: "ring:beta", canary: "ring:canary", vip: "vip" } as const;

/** The server's online grace in this bench (agent-server --online-grace-ms): online devices were seen within it. */
export const ONLINE_GRACE_MS = 3 * 3_600_000;

export interface ConsoleDevice {
  name: string;
  os: string;
  /** null: registered, never seen. */
  lastSeen: number | null;
  labels: string[];
}

/** Device i of the console fleet, as seeded at `now`. */
export function consoleDevice(i: number, now: number): ConsoleDevice {
  const k = Math.floor(i / 4);
  const family = i % 4;
  const name =
    family === 0
      ? `EndPoint${k}`
      : family === 1
        ? `LAPTOP-${((k * 2654435761) >>> 0).toString(36).toUpperCase().padStart(7, "0")}`
        : family === 2
          ? `srv-${SITES[k % SITES.length]}-${Math.floor(k / SITES.length)}`
          : `Büro-${k}`;
  const labels: string[] = [];
  if (i % 10 === 3) labels.push(LABELS.beta); // 10 %
  if (i % 100 === 7) labels.push(LABELS.canary); // 1 %
  if (i % 10_000 === 4_242) labels.push(LABELS.vip); // 0.01 %
  // 30 % online (seen within the last 10 minutes), 5 % never seen, the rest seen 1–30 days ago.
  const r = (i * 7919) % 100;
  const lastSeen = r < 30 ? now - (i % 600_000) : r < 35 ? null : now - 86_400_000 - (i % (29 * 86_400_000));
  return { name, os: i % 3 ? "Linux" : "Windows", lastSeen, labels };
}

/** A device name prefix that matches exactly one device of a fleet of `devices` (an EndPoint whose number has no longer namesake). */
export function oneDevicePrefix(devices: number): string {
  const endPoints = Math.ceil(devices / 4);
  return `EndPoint${Math.floor(endPoints * 0.49)}`;
}

/** A device name prefix that matches devices / 100 devices (one site of the srv family: 10,000 at a million). */
export const sitePrefix = `srv-${SITES[0]}-`;
