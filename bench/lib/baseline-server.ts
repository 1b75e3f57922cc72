// The ratio's baseline: a bare node:http server answering 200 with an empty
// body to everything, after reading the request body. Runs as its own process
// (forked by harness.ts), reports its port over IPC and exits on "stop".
import http from "node:http";

const server = http.createServer((request, response) => {
  request.on("data", () => undefined);
  request.on("end", () => {
    response.writeHead(200, { "Content-Length": "0" });
    response.end();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  process.send?.({ ready: true, port });
});
process.on("message", (message) => {
  if (message === "stop") server.close(() => process.exit(0));
});
process.on("disconnect", () => process.exit(0));
