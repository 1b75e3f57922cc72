// Seeds a data folder for the export benchmark: `events` tracking events written
// straight into the store in large insertEvents operations (no HTTP: the point
// is the export, not the ingest), and one read-only operator key. Prints
// {"secret": …, "events": …, "seconds": …} as JSON on stdout.
import { createOperatorKey } from "../server/operator/keys.js";
import { openStore } from "../server/store/open.js";
import type { TrackEventRow, WriteOp } from "../server/store/store.js";

const [dataDir, countText] = process.argv.slice(2);
if (!dataDir || !countText) throw new Error("usage: export-seed.ts <data-dir> <events>");
const total = Number(countText);
const EVENTS_PER_SESSION = 1_000;
const SESSIONS_PER_COMMIT = 20;
const eventNames = ["app_open", "screen_view", "purchase", "share", "app_close"];

const started = performance.now();
const store = await openStore({ dataDir });
let written = 0;
let session = 0;
while (written < total) {
  const ops: WriteOp[] = [];
  for (let s = 0; s < SESSIONS_PER_COMMIT && written < total; s++, session++) {
    const count = Math.min(EVENTS_PER_SESSION, total - written);
    const events: TrackEventRow[] = new Array(count);
    for (let i = 0; i < count; i++) {
      events[i] = {
        at: 1_700_000_000 + written + i,
        event: eventNames[(written + i) % eventNames.length] as string,
        nr: i + 1,
        userId: (written + i) % 7 === 0 ? null : (written + i) % 100_000,
        ip: `10.${session % 256}.${i % 256}.1`,
        parameters: i % 3 === 0 ? "" : `{"screen":"home","step":${i}}`,
        isTesting: false,
      };
    }
    const id = session.toString(16).padStart(32, "0");
    ops.push({
      kind: "insertEvents",
      session: { session: id, deviceId: id.repeat(2), clientId: "bench-app", systemVersion: "14.2", productVersion: "3.1.0", system: "iOS", productGitHash: "0123abc" },
      events,
      receivedAt: Date.now(),
    });
    written += count;
  }
  const outcomes = await store.apply(ops);
  for (const outcome of outcomes) if (!outcome.ok) throw outcome.error;
}
const { secret } = await createOperatorKey(store, { name: "bench export", scope: "read" });
await store.close();
process.stdout.write(`${JSON.stringify({ secret, events: written, seconds: (performance.now() - started) / 1000 })}\n`);
