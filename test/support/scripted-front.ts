// A loopback HTTP front of a test server whose first answers come from a script
// ("come back later": a status, a Retry-After header and a Connect error body),
// for the clients' Retry-After tests; every request the script does not answer
// is passed on to the server. Records when each request arrived, by path.
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface ScriptedAnswer {
  status: number;
  retryAfter: string;
  /** Answers only a request for this path (without query); any path when left out. */
  path?: string;
}

export interface ScriptedFront {
  readonly url: string;
  /** performance.now() of each request's arrival, with its path and the status answered (0 until then), in order. */
  readonly arrivals: Array<{ path: string; at: number; status: number }>;
  close(): Promise<void>;
}

export async function startScriptedFront(targetUrl: string, script: ScriptedAnswer[]): Promise<ScriptedFront> {
  const arrivals: ScriptedFront["arrivals"] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const path = (request.url ?? "/").split("?", 1)[0] ?? "/";
      const arrival = { path, at: performance.now(), status: 0 };
      arrivals.push(arrival);
      const index = script.findIndex((answer) => answer.path === undefined || answer.path === path);
      if (index >= 0) {
        const [scripted] = script.splice(index, 1) as [ScriptedAnswer];
        arrival.status = scripted.status;
        const code = scripted.status === 429 ? "resource_exhausted" : "unavailable";
        response.writeHead(scripted.status, { "content-type": "application/json", "retry-after": scripted.retryAfter });
        response.end(JSON.stringify({ code, message: "come back later" }));
        return;
      }
      // What identifies the call (content type, Connect protocol headers, the
      // protocols' own x- headers); not the hop's own headers.
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(request.headers)) {
        if (typeof value === "string" && (name === "content-type" || name.startsWith("connect-") || name.startsWith("x-"))) headers[name] = value;
      }
      fetch(`${targetUrl}${request.url ?? "/"}`, { method: request.method ?? "POST", headers, body: Buffer.concat(chunks) }).then(
        async (answer) => {
          const body = Buffer.from(await answer.arrayBuffer());
          arrival.status = answer.status;
          response.writeHead(answer.status, { "content-type": answer.headers.get("content-type") ?? "application/json" });
          response.end(body);
        },
        () => response.destroy(),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    arrivals,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
