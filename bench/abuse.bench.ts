// Slow clients against a real `fleetbeat serve` process: the server's RSS while
// many connections trickle request bodies in 1-byte TCP segments (bodies held
// unfinished, so nothing is answered or freed), per byte received.
// Flags: --connections=<n> --bytes=<per connection> --route=<legacy|connect>
// FLEETBEAT_BENCH_ROOT=<checkout> runs another checkout's server (before/after figures).
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { numberFlag, stringFlag } from "./lib/flags.js";

const connections = numberFlag("connections", 200);
const bytes = numberFlag("bytes", 3_000);
const route = stringFlag("route") ?? "legacy";
const root = process.env.FLEETBEAT_BENCH_ROOT ?? fileURLToPath(new URL("..", import.meta.url));

const dataDir = mkdtempSync(join(tmpdir(), "fleetbeat-bench-abuse-"));
const server = spawn(process.execPath, [join(root, "bin/fleetbeat-dev.js"), "serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", dataDir, "--log-level", "info"], {
  stdio: ["ignore", "pipe", "inherit"],
});
const port = await new Promise<number>((resolve, reject) => {
  let text = "";
  server.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    text += chunk;
    const match = /"port":(\d+)/.exec(text);
    if (match) resolve(Number(match[1]));
  });
  server.once("exit", () => reject(new Error("the server exited before listening")));
});

function rssBytes(): number {
  const status = readFileSync(`/proc/${server.pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

const requestHead =
  route === "connect"
    ? `POST /fleetbeat.heartbeat.v1.HeartbeatService/NewHb HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\nContent-Length: ${bytes + 1}\r\n\r\n`
    : `POST /hb/newHb HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\nContent-Length: ${bytes + 1}\r\n\r\n`;

const sockets: net.Socket[] = [];
for (let i = 0; i < connections; i += 1) {
  const socket = net.connect(port, "127.0.0.1");
  socket.setNoDelay(true);
  socket.on("error", () => {});
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  socket.write(requestHead);
  sockets.push(socket);
}
// Let the server take the headers in, then settle.
await new Promise((resolve) => setTimeout(resolve, 1_000));
const before = rssBytes();
const started = Date.now();
// One byte per connection per round; a pause between rounds so each write leaves as its own segment.
for (let i = 0; i < bytes; i += 1) {
  for (const socket of sockets) socket.write(" ");
  await new Promise((resolve) => setImmediate(resolve));
}
await new Promise((resolve) => setTimeout(resolve, 1_000));
const after = rssBytes();
const sent = connections * bytes;
console.log(
  `  ${route}: ${connections} connections × ${bytes} bytes in 1-byte segments (${(sent / 1024).toFixed(0)} KiB, ${((Date.now() - started) / 1000).toFixed(1)} s): ` +
    `server RSS ${(before / 2 ** 20).toFixed(1)} → ${(after / 2 ** 20).toFixed(1)} MiB, ${((after - before) / sent).toFixed(1)} bytes of RSS per byte sent`,
);
for (const socket of sockets) socket.destroy();
server.kill("SIGTERM");
await new Promise((resolve) => server.once("exit", resolve));
rmSync(dataDir, { recursive: true, force: true });
