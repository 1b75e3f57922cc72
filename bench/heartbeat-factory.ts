// Requests for the heartbeat benchmark: the real client's exact body (SPEC §2) for
// `installations` distinct installations on `installations / 2` machines, cycled,
// so most heartbeats update an existing installation as in a live fleet and the
// first pass inserts them all. Versions and OS versions vary so the census has
// something to group.
import type { BenchRequest } from "./lib/http-client.js";
import type { RequestFactory } from "./lib/loadgen.js";

export interface HeartbeatFactoryArgs {
  installations: number;
  /** Mixed into the ids so separate runs on one database do not collide. */
  seed: string;
}

const versions = ["1.9", "2.0", 2, "2.0.1", "2.1", "2.10"];
const osVersions = ["5.10.17-v7l+", "5.15.84-v8+", "6.1.21-v8+", "6.6.31+rpt-rpi-v8"];

export function heartbeatBody(i: number, seed: string): Uint8Array {
  const machine = `${seed}-m${Math.floor(i / 2).toString(16).padStart(8, "0")}`;
  const installation = `${seed}-i${i.toString(16).padStart(8, "0")}`;
  const version = versions[i % versions.length];
  const versionJson = typeof version === "number" ? String(version) : JSON.stringify(version);
  return new TextEncoder().encode(
    `{"versionInfo": ${versionJson}, "machineId": "${machine}", "hbId": "${installation}", "osType": "Linux", "osVersion": "${osVersions[i % osVersions.length]}", "country": "notSet", "region": "notSet"}`,
  );
}

export function createRequestFactory(args: HeartbeatFactoryArgs): RequestFactory {
  const requests: BenchRequest[] = Array.from({ length: args.installations }, (_, i) => ({
    method: "POST",
    path: "/hb/newHb",
    headers: { "Content-Type": "application/json" },
    body: heartbeatBody(i, args.seed),
  }));
  return (index) => requests[index % requests.length] as BenchRequest;
}
