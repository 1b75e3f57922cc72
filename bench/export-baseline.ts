// The export benchmark's baseline, in two roles chosen by argv[2]:
//   serve <file>            a bare node:http server answering every request with 200
//                           and the file's bytes (streamed); reports its port over IPC
//   fetch <port> <out>      downloads that answer to <out> with node:http, then
//                           prints {bytes, seconds, maxRssKb} as JSON on stdout
// Together: how fast this machine moves the same bytes from one process to a
// file through another, with nothing of fleetbeat in between.
import { createReadStream, createWriteStream, statSync } from "node:fs";
import { createServer, get } from "node:http";
import { pipeline } from "node:stream/promises";

const [role, first, second] = process.argv.slice(2);
if (role === "serve" && first) {
  const size = statSync(first).size;
  const server = createServer((request, response) => {
    response.writeHead(200, { "content-type": "application/x-ndjson", "content-length": size });
    createReadStream(first).pipe(response);
  });
  server.listen(0, "127.0.0.1", () => {
    const address = server.address();
    process.send?.({ ready: true, port: typeof address === "object" && address ? address.port : 0 });
  });
  process.on("message", (message) => {
    if (message === "stop") server.close(() => process.exit(0));
  });
  process.on("disconnect", () => process.exit(0));
} else if (role === "fetch" && first && second) {
  const started = performance.now();
  const bytes = await new Promise<number>((resolve, reject) => {
    get({ host: "127.0.0.1", port: Number(first), path: "/", agent: false }, (response) => {
      let count = 0;
      response.on("data", (chunk: Buffer) => (count += chunk.length));
      pipeline(response, createWriteStream(second)).then(() => resolve(count), reject);
    }).on("error", reject);
  });
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(`${JSON.stringify({ bytes, seconds, maxRssKb: process.resourceUsage().maxRSS })}\n`);
} else {
  throw new Error("usage: export-baseline.ts serve <file> | fetch <port> <out>");
}
