// A loopback HTTP/1.1 front for several server replicas: each request goes to
// the next replica in turn, as a load balancer balancing per request would send
// them, so one client's consecutive calls land on different processes. Counts
// what each replica served; a replica taken out (a killed one) gets nothing more.
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface RoundRobinFront {
  readonly url: string;
  /** Requests handed to each target, in the order of the targets given. */
  readonly served: number[];
  /** Sends nothing more to this target (its URL as given). */
  remove(target: string): void;
  close(): Promise<void>;
}

export async function startRoundRobinFront(targets: readonly string[]): Promise<RoundRobinFront> {
  const served = targets.map(() => 0);
  const removed = new Set<number>();
  const upstreamAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  let next = 0;

  function pick(): number | undefined {
    for (let tries = 0; tries < targets.length; tries++) {
      const index = next++ % targets.length;
      if (!removed.has(index)) return index;
    }
    return undefined;
  }

  const server = http.createServer((request, response) => {
    const index = pick();
    if (index === undefined) {
      response.writeHead(502).end();
      return;
    }
    served[index]! += 1;
    const target = new URL(request.url ?? "/", targets[index]);
    const headers = { ...request.headers, host: target.host };
    const upstream = http.request(target, { method: request.method, headers, agent: upstreamAgent }, (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    });
    upstream.on("error", () => {
      if (!response.headersSent) response.writeHead(502);
      response.end();
    });
    request.pipe(upstream);
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    served,
    remove(target) {
      const index = targets.indexOf(target);
      if (index >= 0) removed.add(index);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      upstreamAgent.destroy();
    },
  };
}
