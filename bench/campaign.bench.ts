// A fleet-wide command while the fleet heartbeats (issue 9): `--devices`
// registered devices seeded straight into SQLite (bench/agent-server.ts), the DI
// fleet simulator heartbeating at `--rate`/s (open loop) from its own process,
// and, `--queue-after` ms into that run, one QueueCommand for all devices over
// Connect. Reports the queue call's latency (target < 1 s), heartbeat p99 over
// the whole run (target < 50 ms) against a run without a campaign, the server's
// RSS sampled every second without forcing a GC (target < 400 MB), and how far
// the campaign got (devices given their command, how fast).
// Flags: --devices=<n> --active=<n> --rate=<n> --connections=<n> --duration=<ms> --quiet-duration=<ms> --queue-after=<ms>
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { CampaignState } from "../gen/fleetbeat/operator/v1/commands_pb.js";
import { OperatorClient } from "../clients/operator/client.js";
import { numberFlag } from "./lib/flags.js";
import { formatLatency, formatStatuses, printTable, runLoad, startChildServer } from "./lib/harness.js";

const devices = numberFlag("devices", 1_000_000);
const active = numberFlag("active", 200_000);
const rate = numberFlag("rate", 5_000);
const connections = numberFlag("connections", 64);
const durationMs = numberFlag("duration", 60_000);
const quietMs = numberFlag("quiet-duration", 15_000);
const queueAfterMs = numberFlag("queue-after", 5_000);
const here = (name: string) => fileURLToPath(new URL(name, import.meta.url));
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

const seedStart = performance.now();
let loadBefore = "";
const server = await startChildServer(here("./agent-server.ts"), [`--devices=${devices}`]);
const seedSeconds = (performance.now() - seedStart) / 1000;

function ask<T>(request: string, key: string): Promise<T> {
  return new Promise<T>((resolve) => {
    const onMessage = (m: Record<string, unknown>) => {
      if (!(key in m)) return;
      server.child.off("message", onMessage);
      resolve(m[key] as T);
    };
    server.child.on("message", onMessage);
    server.child.send(request);
  });
}

try {
  const key = await ask<string>("operator-key", "operatorKey");
  const client = new OperatorClient({ server: `http://127.0.0.1:${server.port}`, key });
  const factory = { factoryModule: here("./agent-factory.ts"), factoryArgs: { devices, active } };
  const idleRss = await ask<number>("peek", "peek");
  loadBefore = loadavg().map((l) => l.toFixed(1)).join(" ");

  // Without a campaign: the reference figures of this machine, now.
  const quiet = await runLoad({ port: server.port, connections, durationMs: quietMs, warmupRequests: 2_000, ratePerSecond: rate, ...factory });

  // With one: RSS and the campaign sampled every second while the fleet beats.
  let peakRss = 0;
  const samples: Array<{ at: number; targeted: number; rss: number }> = [];
  let campaignId: bigint | undefined;
  let queueMs = Number.NaN;
  let estimated = 0n;
  let materialisedAt: number | undefined;
  const start = performance.now();
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const rss = await ask<number>("peek", "peek");
      peakRss = Math.max(peakRss, rss);
      if (campaignId !== undefined) {
        const c = (await client.commands.getCampaign({ id: campaignId }, client.call())).campaign!;
        samples.push({ at: performance.now() - start, targeted: Number(c.targeted), rss });
        if (c.materialised && materialisedAt === undefined) materialisedAt = performance.now() - start;
      }
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  })();
  const queuing = (async () => {
    await new Promise((resolve) => setTimeout(resolve, queueAfterMs));
    // The client's connection and the server's code paths warm, so the figure is the call itself.
    await client.commands.listCampaigns({}, client.call());
    const t0 = performance.now();
    const response = await client.queue({ target: { case: "allDevices", value: true }, type: 1, content: '{"whitelist":["/bin"]}' });
    queueMs = performance.now() - t0;
    campaignId = response.campaign!.id;
    estimated = response.campaign!.estimated;
  })();
  const loaded = await runLoad({ port: server.port, connections, durationMs, warmupRequests: 2_000, ratePerSecond: rate, ...factory });
  await queuing;
  sampling = false;
  await sampler;
  const final = (await client.commands.getCampaign({ id: campaignId! }, client.call())).campaign!;
  client.close();

  const reached = samples.filter((s) => s.at >= queueAfterMs);
  const first = reached[0];
  const last = reached[reached.length - 1];
  const perSecond = first && last && last.at > first.at ? ((last.targeted - first.targeted) * 1000) / (last.at - first.at) : 0;
  printTable(`QueueCommand to all of ${devices.toLocaleString("en")} devices while ${active.toLocaleString("en")} of them heartbeat at ${rate}/s (open loop, ${connections} connections), SQLite`, [
    ["queue call", `${queueMs.toFixed(1)} ms (target < 1000 ms: ${queueMs < 1000 ? "met" : "not met"}); answer: campaign ${campaignId}, estimated ${estimated} devices`],
    ["heartbeats, no campaign", `${quiet.requestsPerSecond.toFixed(0)}/s, ${formatLatency(quiet.latency)}, ${formatStatuses(quiet.statuses)}`],
    [
      "heartbeats, campaign",
      `${loaded.requestsPerSecond.toFixed(0)}/s, ${formatLatency(loaded.latency)} (p99 target < 50 ms: ${loaded.latency.p99 < 50_000 ? "met" : "not met"}), ${formatStatuses(loaded.statuses)}`,
    ],
    ["server RSS", `${mb(idleRss)} idle after seeding, peak ${mb(peakRss)} sampled each second (target < 400 MB: ${peakRss < 400 * 1024 * 1024 ? "met" : "not met"})`],
    [
      "campaign",
      `${Number(final.targeted).toLocaleString("en")} devices given the command by the end of the run (${perSecond.toFixed(0)}/s), ${
        materialisedAt !== undefined ? `all reached ${((materialisedAt - queueAfterMs) / 1000).toFixed(1)} s after queueing` : "not all reached yet"
      }, state ${CampaignState[final.state]}`,
    ],
    ["seed + start", `${seedSeconds.toFixed(1)} s; load average ${loadBefore} before the runs, ${loadavg().map((l) => l.toFixed(1)).join(" ")} after`],
  ]);
  if ((loaded.statuses["200"] ?? 0) !== loaded.requests || !(queueMs < 1000)) process.exitCode = 1;
} finally {
  await server.stop();
}
