// A TCP proxy on 127.0.0.1 in front of a real server (the shared test Postgres),
// which a test can freeze and cut to play a database outage without touching
// the database itself:
//   - freeze(): nothing is forwarded any more, either way, and new connections
//     are accepted but get no answer: what clients see of a database that is
//     SIGSTOPped or behind a network that drops packets;
//   - cut(): every connection is reset and new ones are reset at once: a
//     database that is down;
//   - restore(): forwarding again (frozen bytes flow on; cut connections stay gone).
import * as net from "node:net";

export interface TcpProxy {
  readonly port: number;
  /** Connections currently open through the proxy. */
  readonly open: number;
  freeze(): void;
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  type Pair = { client: net.Socket; upstream: net.Socket };
  const pairs = new Set<Pair>();
  let state: "open" | "frozen" | "cut" = "open";

  const server = net.createServer((client) => {
    if (state === "cut") {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(target.port, target.host);
    const pair: Pair = { client, upstream };
    pairs.add(pair);
    const end = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
    client.pipe(upstream);
    upstream.pipe(client);
    if (state === "frozen") hold(pair);
  });

  function hold(pair: Pair): void {
    pair.client.unpipe(pair.upstream);
    pair.upstream.unpipe(pair.client);
    pair.client.pause();
    pair.upstream.pause();
  }

  server.listen(0, "127.0.0.1");
  await new Promise<void>((resolve, reject) => {
    server.once("listening", resolve);
    server.once("error", reject);
  });
  const port = (server.address() as net.AddressInfo).port;

  return {
    port,
    get open() {
      return pairs.size;
    },
    freeze() {
      state = "frozen";
      for (const pair of pairs) hold(pair);
    },
    cut() {
      state = "cut";
      for (const pair of [...pairs]) {
        pair.client.resetAndDestroy();
        pair.upstream.destroy();
      }
    },
    restore() {
      state = "open";
      for (const pair of pairs) {
        pair.client.pipe(pair.upstream);
        pair.upstream.pipe(pair.client);
      }
    },
    async close() {
      state = "cut";
      for (const pair of [...pairs]) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
