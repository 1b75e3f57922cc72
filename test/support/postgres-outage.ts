// The Postgres outage scenario shared by the outage tests: writers keep writing
// while the test plays outages (each one begun and ended by the caller: a proxy
// that freezes or cuts, a real database SIGSTOPped or stopped); during each,
// writes and reads on the legacy and Connect paths answer 503 / unavailable
// within `answerBoundMs`, /readyz and the gRPC health check fail; after each the
// server is ready again by itself; at the end every acknowledged write is in
// the database (read over `directUrl`, not through what the test broke).
import pg from "pg";
import { expect } from "vitest";
import { connectHeartbeat, connectRead, get, grpcHealth, legacyHeartbeat, waitFor, type Answer } from "./outage.js";
import { operatorSecret, type TestServer } from "./server.js";

export interface Outage {
  readonly name: string;
  begin(): void | Promise<void>;
  end(): void | Promise<void>;
}

/** Writers that keep sending heartbeats (one request at a time each) and remember which were acknowledged. */
function startWriters(url: string, count: number) {
  const acknowledged: string[] = [];
  /** Answers of requests sent while an outage was on. */
  const duringOutage: Answer[] = [];
  let outage = false;
  let stopped = false;
  let n = 0;
  const loops = Array.from({ length: count }, async (_, w) => {
    while (!stopped) {
      const id = `pg-outage-${w}-${n++}`;
      const sentInOutage = outage;
      const answer = await legacyHeartbeat(url, id);
      if (answer.status === 200) acknowledged.push(id);
      else if (answer.status !== 503) throw new Error(`writer ${w}: unexpected ${answer.status}`);
      if (sentInOutage) duringOutage.push(answer);
      // Honour Retry-After only loosely: this test wants answers, not politeness.
      if (answer.status === 503) await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });
  return {
    acknowledged,
    duringOutage,
    setOutage(on: boolean) {
      outage = on;
    },
    async stop() {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

export async function playPostgresOutages(options: {
  server: TestServer;
  outages: readonly Outage[];
  answerBoundMs: number;
  /** How long the server may take to be ready again after an outage ends. */
  recoveryMs: number;
  /** The database, reached without going through what the outages break. */
  directUrl: string;
}): Promise<void> {
  const { server, answerBoundMs } = options;
  const url = server.server.url;
  const reader = await operatorSecret(server.server.store, "read");
  let n = 0;
  const machine = () => `pg-probe-${n++}`;

  await waitFor(() => get(url, "/readyz"), (a) => a.status === 200, 10_000, "ready at start");
  expect(await grpcHealth(url)).toBe("SERVING");
  const writers = startWriters(url, 3);
  try {
    await waitFor(async () => writers.acknowledged.length, (count) => count >= 30, 20_000, "writes flowing");

    for (const outage of options.outages) {
      await outage.begin();
      writers.setOutage(true);

      const [legacy, connectWrite, connectReadAnswer] = await Promise.all([
        legacyHeartbeat(url, machine()),
        connectHeartbeat(url, machine()),
        connectRead(url, reader, writers.acknowledged[0] as string),
      ]);
      expect(legacy.status, outage.name).toBe(503);
      expect(Number(legacy.retryAfter), outage.name).toBeGreaterThan(0);
      expect(legacy.ms, outage.name).toBeLessThan(answerBoundMs);
      expect(connectWrite.status, outage.name).toBe("Unavailable");
      expect(connectWrite.ms, outage.name).toBeLessThan(answerBoundMs);
      expect(connectReadAnswer.status, outage.name).toBe("Unavailable");
      expect(Number(connectReadAnswer.retryAfter), outage.name).toBeGreaterThan(0);
      expect(connectReadAnswer.ms, outage.name).toBeLessThan(answerBoundMs);

      const notReady = await waitFor(() => get(url, "/readyz"), (a) => a.status === 503, answerBoundMs, `/readyz fails (${outage.name})`);
      expect(notReady.ms).toBeLessThan(answerBoundMs);
      expect(await waitFor(() => grpcHealth(url), (s) => s === "NOT_SERVING", answerBoundMs, `gRPC health fails (${outage.name})`)).toBe("NOT_SERVING");

      // A second round after the pool's connections are gone: new ones cannot be made either.
      const again = await legacyHeartbeat(url, machine());
      expect(again.status, outage.name).toBe(503);
      expect(again.ms, outage.name).toBeLessThan(answerBoundMs);

      await outage.end();
      writers.setOutage(false);
      await waitFor(() => get(url, "/readyz"), (a) => a.status === 200, options.recoveryMs, `ready again after the ${outage.name}`);
      expect(await grpcHealth(url)).toBe("SERVING");
      expect((await legacyHeartbeat(url, machine())).status).toBe(200);
      expect((await connectHeartbeat(url, machine())).status).toBe("ok");
      expect((await connectRead(url, reader, writers.acknowledged[0] as string)).status).toBe("ok");
      const before = writers.acknowledged.length;
      await waitFor(async () => writers.acknowledged.length, (count) => count >= before + 10, 20_000, `writers flowing after the ${outage.name}`);
    }
  } finally {
    await writers.stop();
  }
  // Every writer request sent during an outage was answered within the bound.
  expect(writers.duringOutage.length).toBeGreaterThan(0);
  for (const answer of writers.duringOutage) expect(answer.ms).toBeLessThan(answerBoundMs);

  // Every acknowledged heartbeat is in the database.
  const direct = new pg.Client({ connectionString: options.directUrl });
  await direct.connect();
  try {
    const { rows } = await direct.query<{ machine_id: string }>("SELECT machine_id FROM hb_installations WHERE machine_id = ANY($1)", [writers.acknowledged]);
    const stored = new Set(rows.map((row) => row.machine_id));
    expect(writers.acknowledged.filter((id) => !stored.has(id))).toEqual([]);
  } finally {
    await direct.end();
  }
}
