// The Connect router: Connect (JSON and binary), gRPC and gRPC-Web for every
// guarded service. It serves the guarded implementations only (see
// server/core/guard.ts); it has no interceptors, because nothing may depend on
// them (the legacy runner never passes through here). Unknown paths get 404
// from writeError.
//
// Malformed binary protobuf is the client's mistake, but @connectrpc/connect
// 2.1 answers a binary message that does not parse with Code.Internal (its
// binary serialization is shared with clients, where a bad answer is the
// server's fault), and so HTTP 500 on Connect, while malformed JSON gets
// invalid_argument. So a binary request (Connect unary, Connect streaming, gRPC,
// gRPC-Web, uncompressed) is read first and parsed once here; one that does not
// parse goes, with an empty message in its place, to a twin router whose every
// method throws MALFORMED_BODY, and connect writes that error in the request's
// own protocol (400 / invalid_argument, grpc-status 3). Others go to the real
// router with the bytes read.
//
// Every POST body is read this way (every served method takes one request
// message: the guard refuses client streams), into one buffer bounded by the
// limit, so a body trickled in tiny segments costs its size, not an object per
// segment as connect's own reader keeps.
import { fromBinary, type DescMessage, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createConnectRouter, createContextValues, type ServiceImpl } from "@connectrpc/connect";
import { compressionBrotli, compressionGzip, universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import type { UniversalHandler, UniversalServerRequest } from "@connectrpc/connect/protocol";
import { peerAddressKey } from "../core/context.js";
import { FleetbeatError, writeError } from "../core/errors.js";
import { procedureOf, type GuardedService } from "../core/guard.js";
import { BodyBuffer } from "./body.js";
import { pathOf } from "./legacy.js";
import { peerAddressOf, type NodeRequest, type NodeResponse } from "./peer.js";

/** A request listener for node:http and node:http2 alike. */
export type RequestHandler = (request: NodeRequest, response: NodeResponse) => void;

export interface ConnectHandlerOptions {
  /** Largest message accepted (Connect and gRPC answer resource_exhausted above it). */
  readonly maxBodyBytes: number;
  /** Aborted when the server cuts in-flight calls at the end of its grace period (aborts their context.signal). */
  readonly cutSignal?: AbortSignal;
}

/** How a request carries its one message: binary alone, binary in envelopes, or anything else (read, not parsed). */
type Framing = "unary" | "envelope" | "opaque";

const envelopeHeaderBytes = 5;
const compressedFlag = 0b0000_0001;

export function createConnectHandler(services: readonly GuardedService[], options: ConnectHandlerOptions): RequestHandler {
  const routerOptions = {
    readMaxBytes: options.maxBodyBytes,
    acceptCompression: [compressionGzip, compressionBrotli],
    ...(options.cutSignal ? { shutdownSignal: options.cutSignal } : {}),
  };
  const real = createConnectRouter(routerOptions);
  const twin = createConnectRouter(routerOptions);
  for (const { service, implementation } of services) {
    real.service(service, implementation as unknown as Partial<ServiceImpl<DescService>>);
    twin.service(service, malformedImplementation(service) as Partial<ServiceImpl<DescService>>);
  }
  const handlers = new Map<string, { real: UniversalHandler; twin: UniversalHandler; input: DescMessage }>();
  for (const handler of real.handlers) handlers.set(handler.requestPath, { real: handler, twin: handler, input: handler.method.input });
  for (const handler of twin.handlers) {
    const entry = handlers.get(handler.requestPath);
    if (entry) entry.twin = handler;
  }

  return (request, response) => {
    const entry = handlers.get(pathOf(request.url));
    if (entry === undefined) {
      writeError(response, new FleetbeatError("NOT_FOUND"));
      return;
    }
    let universal: UniversalServerRequest;
    try {
      universal = universalRequestFromNodeRequest(request, response as never, undefined, createContextValues().set(peerAddressKey, peerAddressOf(request)));
    } catch {
      // No authority (HTTP/2 without :authority or Host): connect cannot build a URL.
      writeError(response, new FleetbeatError("BAD_REQUEST", "the request names no authority (Host)"));
      return;
    }
    const framing = request.method === "POST" ? framingOf(request, options.maxBodyBytes) : undefined;
    const answered =
      framing === undefined
        ? entry.real(universal)
        : readChecked(request, universal, framing, entry.input, options.maxBodyBytes).then((checked) =>
            checked.parses ? entry.real(checked.request) : entry.twin(checked.request),
          );
    answered
      .then((answer) => universalResponseToNodeResponse(answer, response as never))
      .catch((reason: unknown) => {
        // The client went away mid-answer: nothing to tell anybody.
        if (ConnectError.from(reason).code === Code.Aborted) return;
        if (!response.headersSent) writeError(response, new FleetbeatError("BAD_REQUEST", "the request could not be read"));
        else response.destroy();
      });
  };
}

/**
 * How the request's message is framed; undefined when a declared length is over
 * the limit already (connect answers that without reading).
 */
function framingOf(request: NodeRequest, maxBodyBytes: number): Framing | undefined {
  const declared = request.headers["content-length"];
  if (declared !== undefined && Number(declared) > maxBodyBytes + envelopeHeaderBytes) return undefined;
  const type = String(request.headers["content-type"] ?? "").toLowerCase().split(";", 1)[0]?.trim() ?? "";
  if (type === "application/proto") {
    const encoding = request.headers["content-encoding"];
    return encoding === undefined || encoding === "identity" ? "unary" : "opaque";
  }
  // Compressed envelopes carry a flag: parses() leaves those alone.
  if (type === "application/connect+proto" || type === "application/grpc" || type === "application/grpc+proto") return "envelope";
  if (type === "application/grpc-web" || type === "application/grpc-web+proto") return "envelope";
  return "opaque";
}

interface CheckedRequest {
  /** False when the message is binary protobuf that does not parse. */
  readonly parses: boolean;
  readonly request: UniversalServerRequest;
}

/**
 * Reads the body (at most the message limit plus an envelope header; past it,
 * the bytes read and the rest go on to connect, which answers the limit) and
 * parses its message once.
 */
async function readChecked(
  node: NodeRequest,
  universal: UniversalServerRequest,
  framing: Framing,
  input: DescMessage,
  maxBodyBytes: number,
): Promise<CheckedRequest> {
  const limit = maxBodyBytes + envelopeHeaderBytes;
  const declared = Number(node.headers["content-length"] ?? Number.NaN);
  const body = new BodyBuffer(limit, Number.isSafeInteger(declared) && declared >= 0 && declared <= limit ? declared : undefined);
  const chunks = (node as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  for (;;) {
    const next = await chunks.next();
    if (next.done === true) break;
    if (!body.append(next.value)) {
      return { parses: true, request: { ...universal, body: replay([body.bytes(), next.value], chunks) } };
    }
  }
  const bytes = body.bytes();
  if (parses(bytes, framing, input)) return { parses: true, request: { ...universal, body: replay([bytes]) } };
  // The twin reads an empty message instead, so that its method runs and throws.
  const header = new Headers(universal.header);
  header.delete("content-length");
  const empty = framing === "unary" ? new Uint8Array(0) : new Uint8Array(envelopeHeaderBytes);
  return { parses: false, request: { ...universal, header, body: replay([empty]) } };
}

/** True unless the body holds an uncompressed binary message that does not parse. */
function parses(bytes: Uint8Array, framing: Framing, input: DescMessage): boolean {
  if (framing === "opaque") return true;
  if (framing === "unary") return tryParse(input, bytes);
  let offset = 0;
  while (offset + envelopeHeaderBytes <= bytes.byteLength) {
    const flags = bytes[offset] as number;
    const length = new DataView(bytes.buffer, bytes.byteOffset + offset + 1, 4).getUint32(0);
    const start = offset + envelopeHeaderBytes;
    // A short envelope is connect's to answer; flags other than "compressed" mark end-of-stream frames.
    if (start + length > bytes.byteLength) return true;
    if (flags === 0 && !tryParse(input, bytes.subarray(start, start + length))) return false;
    if ((flags & compressedFlag) !== 0) return true;
    offset = start + length;
  }
  return true;
}

function tryParse(input: DescMessage, bytes: Uint8Array): boolean {
  try {
    fromBinary(input, bytes);
    return true;
  } catch {
    return false;
  }
}

async function* replay(head: readonly Uint8Array[], rest?: AsyncIterator<Buffer>): AsyncIterable<Uint8Array> {
  for (const bytes of head) yield bytes;
  if (rest === undefined) return;
  for (;;) {
    const next = await rest.next();
    if (next.done === true) return;
    yield next.value;
  }
}

/** Every method of `service` throwing MALFORMED_BODY: the twin router's implementation. */
function malformedImplementation(service: DescService): Record<string, unknown> {
  const implementation: Record<string, unknown> = {};
  for (const method of service.methods as readonly DescMethod[]) {
    const error = (): FleetbeatError => new FleetbeatError("MALFORMED_BODY", `not a binary ${method.input.typeName}`);
    implementation[method.localName] =
      method.methodKind === "server_streaming"
        ? async function* malformed(): AsyncGenerator<never> {
            throw error();
          }
        : () => {
            throw error();
          };
  }
  return implementation;
}

/** The request path of every method the router serves ("/pkg.Service/Method"). */
export function proceduresOf(services: readonly GuardedService[]): Set<string> {
  return new Set(services.flatMap(({ service }) => service.methods.map((method: DescMethod) => procedureOf(method))));
}
