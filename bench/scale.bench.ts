// How cost grows with what is stored (issue 14): tracking ingest with 10 k, 1 M
// and 50 M events already stored, and DI heartbeats with 10 k and 1 M devices,
// each a run of the tracking or agent bench (its own server process, SQLite,
// 64 connections) whose figures are collected into one table.
//
//   npm run bench -- scale [--stored=10000,1000000,50000000] [--devices=10000,1000000] [--duration=10000] [--connections=64]
//
// Filling 50 M events takes a few minutes and about 8 GB of disk (bench/lib/track-prefill.ts).
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { numberFlag, stringFlag } from "./lib/flags.js";
import { printTable } from "./lib/harness.js";

/** A comma-separated list of counts; empty: none. */
const counts = (text: string) => text.split(",").filter((part) => part.trim() !== "").map(Number);
const stored = counts(stringFlag("stored") ?? "10000,1000000,50000000");
const devices = counts(stringFlag("devices") ?? "10000,1000000");
const durationMs = numberFlag("duration", 10_000);
const connections = numberFlag("connections", 64);
const here = (name: string) => fileURLToPath(new URL(name, import.meta.url));

/** Runs one bench file and answers its output (echoed as it is). */
function run(file: string, args: string[]): string {
  const child = spawnSync(process.execPath, ["--import", "tsx", here(file), ...args], { encoding: "utf8", maxBuffer: 16 * 1024 * 1024 });
  process.stdout.write(child.stdout);
  process.stderr.write(child.stderr);
  if (child.status !== 0) {
    console.error(`${file} ${args.join(" ")}: ${child.error ? String(child.error) : `exit code ${child.status}, signal ${child.signal}`}`);
    process.exitCode = 1;
  }
  return child.stdout;
}

/** The value after `label` on its line of a bench table (the first such line after a line starting with `after`, when given). */
function figure(output: string, label: string, after?: string): string {
  const lines = output.split("\n");
  const from = after === undefined ? 0 : Math.max(0, lines.findIndex((l) => l.trimStart().startsWith(after)));
  const line = lines.slice(from).find((l) => l.trimStart().startsWith(label));
  return line === undefined ? "?" : line.trimStart().slice(label.length).trim();
}

const p99 = (latency: string) => /p99 ([\d.]+ ms)/.exec(latency)?.[1] ?? "?";
const rows: Array<[string, string]> = [];
for (const n of stored) {
  const out = run("./track.bench.ts", [`--stored=${n}`, `--duration=${durationMs}`, `--connections=${connections}`]);
  rows.push([
    `tracking, ${n.toLocaleString("en")} events stored`,
    `${figure(out, "committed events/s")} events/s, p99 ${p99(figure(out, "latency"))}, ${figure(out, "server CPU per event").split(" (")[0]} CPU/event; baseline ${figure(out, "baseline node:http").split(",")[0]}`,
  ]);
}
for (const n of devices) {
  const out = run("./agent.bench.ts", [`--devices=${n}`, `--active=${Math.min(n, 200_000)}`, "--rate=0", `--duration=${durationMs}`, `--connections=${connections}`]);
  rows.push([
    `DI heartbeats, ${n.toLocaleString("en")} devices`,
    `${figure(out, "heartbeats/s").split(" (")[0]}/s, p99 ${p99(figure(out, "latency", "heartbeats/s"))}, ${figure(out, "server CPU").split(" (")[0]}; baseline ${figure(out, "requests/s")} requests/s`,
  ]);
}
printTable(`scale of cost, ${connections} connections, ${(durationMs / 1000).toFixed(0)} s per run`, rows);
