// Generated clients over each protocol the server speaks, for end-to-end tests.
import type { DescService } from "@bufbuild/protobuf";
import { createClient, type Client, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";

export type WireProtocol = "connect-json" | "connect-binary" | "grpc" | "grpc-web";

export const wireProtocols: readonly WireProtocol[] = ["connect-json", "connect-binary", "grpc", "grpc-web"];

export interface TransportOptions {
  /** CA certificate to trust (TLS tests). */
  ca?: Buffer;
}

/** Connect and gRPC-Web over HTTP/1.1; gRPC over HTTP/2 (h2c on http:// URLs, h2 via ALPN on https://). */
export function transportFor(protocol: WireProtocol, baseUrl: string, options: TransportOptions = {}): Transport {
  const tls = options.ca ? { ca: options.ca } : {};
  switch (protocol) {
    case "connect-json":
      return createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false, nodeOptions: { ...tls, agent: false } });
    case "connect-binary":
      return createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true, nodeOptions: { ...tls, agent: false } });
    case "grpc-web":
      return createGrpcWebTransport({ baseUrl, httpVersion: "1.1", nodeOptions: { ...tls, agent: false } });
    case "grpc":
      return createGrpcTransport({ baseUrl, nodeOptions: tls });
  }
}

export function clientFor<S extends DescService>(service: S, protocol: WireProtocol, baseUrl: string, options: TransportOptions = {}): Client<S> {
  return createClient(service, transportFor(protocol, baseUrl, options));
}

/** The response content type each protocol answers with. */
export const responseContentType: Record<WireProtocol, RegExp> = {
  "connect-json": /^application\/json\b/,
  "connect-binary": /^application\/proto\b/,
  grpc: /^application\/grpc(\+proto)?$/,
  "grpc-web": /^application\/grpc-web(\+proto)?$/,
};
