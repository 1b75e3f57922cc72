// A friendly client for the operator API in Node: OperatorClientBase (client-base.ts:
// the generated Connect clients, paging, command waits, streaming exports) over
// Node's transports, with the operator key attached to every call.
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import type { Interceptor, Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { bearerInterceptor, OperatorClientBase } from "./client-base.js";

export * from "./client-base.js";

export type OperatorProtocol = "connect" | "connect-json" | "grpc" | "grpc-web";

export interface OperatorClientOptions {
  /** Base URL of the fleetbeat server, e.g. "http://127.0.0.1:6011". */
  server: string;
  /** Operator API key, sent as `Authorization: Bearer <key>`. */
  key?: string | undefined;
  /** Wire protocol; default "connect" (binary Connect over HTTP/1.1, which works through any proxy). */
  protocol?: OperatorProtocol;
  /** Deadline of each unary call in ms (default 30 s); streams have none unless given per call. */
  timeoutMs?: number;
  /** A transport of your own (the key is then up to it). */
  transport?: Transport;
}

export class OperatorClient extends OperatorClientBase {
  private readonly agent: HttpAgent | undefined;

  constructor(options: OperatorClientOptions) {
    let agent: HttpAgent | undefined;
    let transport = options.transport;
    if (transport === undefined) {
      const interceptors: Interceptor[] = options.key === undefined ? [] : [bearerInterceptor(options.key)];
      const protocol = options.protocol ?? "connect";
      const secure = options.server.startsWith("https:");
      if (protocol === "grpc") {
        transport = createGrpcTransport({ baseUrl: options.server, interceptors });
      } else {
        // Our own agent, so close() can let the process exit at once instead of
        // waiting for idle keep-alive sockets to time out.
        agent = secure ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
        const common = { baseUrl: options.server, interceptors, httpVersion: "1.1" as const, nodeOptions: { agent } };
        transport =
          protocol === "grpc-web"
            ? createGrpcWebTransport(common)
            : createConnectTransport({ ...common, useBinaryFormat: protocol === "connect" });
      }
    }
    super(transport, { server: options.server, ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}) });
    this.agent = agent;
  }

  /** Releases the connections this client keeps open. */
  override close(): void {
    this.agent?.destroy();
  }
}
