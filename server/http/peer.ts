// Small facts about a Node request that several parts of server/http need.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";

export type NodeRequest = IncomingMessage | Http2ServerRequest;
export type NodeResponse = ServerResponse | Http2ServerResponse;

/** HTTP/1.x (where `Connection: close` exists; HTTP/2 forbids the header). */
export function isHttp1(request: NodeRequest): request is IncomingMessage {
  return request.httpVersionMajor < 2;
}

/** The socket's remote address; IPv4-mapped IPv6 ("::ffff:10.0.0.1") as plain IPv4. */
export function peerAddressOf(request: NodeRequest): string {
  return normalizeAddress(request.socket?.remoteAddress ?? "");
}

/** An IPv4-mapped IPv6 address ("::ffff:10.0.0.1") as plain IPv4; others as they are. */
export function normalizeAddress(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  return mapped?.[1] ?? address;
}
