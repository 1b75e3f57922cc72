// The Connect router: Connect (JSON and binary), gRPC and gRPC-Web for every
// guarded service. It serves the guarded implementations only (see
// server/core/guard.ts); it has no interceptors, because nothing may depend on
// them (the legacy runner never passes through here). Unknown paths get 404
// from writeError.
//
// A malformed request is the client's mistake, but @connectrpc/connect 2.1
// answers several kinds of them as server errors: a binary message that does
// not parse is Code.Internal (its serialization is shared with clients, where
// a bad answer is the server's fault), an unknown compression or a missing or
// extra request message is Code.Unimplemented (HTTP 501), a compressed envelope
// without an encoding is Internal, and a JSON parse error quoting half a
// surrogate pair throws inside its gRPC trailer writer (no answer at all). So
// every POST body is read first and checked once here: the encoding is one we
// accept, the envelopes are whole and exactly one carries the request message,
// and that message (decompressed, bounded) parses as binary or JSON. A request
// that fails goes, with an empty message and no encoding in its place, to a twin
// router whose every method throws MALFORMED_BODY naming what was wrong, and
// connect writes that error in the request's own protocol (400 /
// invalid_argument, grpc-status 3). Others go to the real router with the bytes
// read.
//
// Every POST body is read this way (every served method takes one request
// message: the guard refuses client streams), into one buffer bounded by the
// limit, so a body trickled in tiny segments costs its size, not an object per
// segment as connect's own reader keeps. The exception is a bidi stream
// (gRPC server reflection, server/core/reflection.ts): its client waits for each
// answer before it asks again, so its body cannot be read to the end first;
// connect reads it message by message, each bounded by the limit.
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import { fromBinary, fromJsonString, type DescMessage, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createConnectRouter, createContextKey, createContextValues, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
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
  const handlers = new Map<string, { real: UniversalHandler; twin: UniversalHandler; method: DescMethod }>();
  for (const handler of real.handlers) handlers.set(handler.requestPath, { real: handler, twin: handler, method: handler.method });
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
    const wire = request.method === "POST" && entry.method.methodKind !== "bidi_streaming" ? wireOf(request, options.maxBodyBytes) : undefined;
    const answered =
      wire === undefined
        ? entry.real(universal)
        : readChecked(request, universal, wire, entry.method, options.maxBodyBytes).then((checked) =>
            checked.malformed === undefined ? entry.real(checked.request) : entry.twin(checked.request),
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

/** How a request carries its one message, by its content type. */
interface Wire {
  /** Connect unary: the body is the message; else the body is envelopes. */
  readonly framing: "unary" | "envelope";
  readonly codec: "proto" | "json";
  /** The header naming the compression of the body (unary) or of compressed envelopes. */
  readonly encodingHeader: "content-encoding" | "connect-content-encoding" | "grpc-encoding";
}

/**
 * The request's wire, or undefined when connect answers it alone: a declared
 * length over the limit, or a content type connect does not serve (it answers
 * 415 / unsupported media type without reading).
 */
function wireOf(request: NodeRequest, maxBodyBytes: number): Wire | undefined {
  const declared = request.headers["content-length"];
  if (declared !== undefined && Number(declared) > maxBodyBytes + envelopeHeaderBytes) return undefined;
  const type = String(request.headers["content-type"] ?? "").toLowerCase().split(";", 1)[0]?.trim() ?? "";
  switch (type) {
    case "application/proto":
      return { framing: "unary", codec: "proto", encodingHeader: "content-encoding" };
    case "application/json":
      return { framing: "unary", codec: "json", encodingHeader: "content-encoding" };
    case "application/connect+proto":
      return { framing: "envelope", codec: "proto", encodingHeader: "connect-content-encoding" };
    case "application/connect+json":
      return { framing: "envelope", codec: "json", encodingHeader: "connect-content-encoding" };
    case "application/grpc":
    case "application/grpc+proto":
    case "application/grpc-web":
    case "application/grpc-web+proto":
      return { framing: "envelope", codec: "proto", encodingHeader: "grpc-encoding" };
    case "application/grpc+json":
    case "application/grpc-web+json":
      return { framing: "envelope", codec: "json", encodingHeader: "grpc-encoding" };
    default:
      return undefined;
  }
}

interface CheckedRequest {
  /** What is wrong with the request (it then goes to the twin router); undefined when it may go on. */
  readonly malformed: string | undefined;
  readonly request: UniversalServerRequest;
}

/** The encodings the router accepts (acceptCompression above), plus none. */
const decompressors: Readonly<Record<string, ((bytes: Uint8Array, maxBytes: number) => Buffer) | null>> = {
  identity: null,
  gzip: (bytes, maxBytes) => gunzipSync(bytes, { maxOutputLength: maxBytes }),
  br: (bytes, maxBytes) => brotliDecompressSync(bytes, { maxOutputLength: maxBytes }),
};

/**
 * Reads the body (at most the message limit plus an envelope header; past it,
 * the bytes read and the rest go on to connect, which answers the limit) and
 * checks its framing, encoding and message once.
 */
async function readChecked(
  node: NodeRequest,
  universal: UniversalServerRequest,
  wire: Wire,
  method: DescMethod,
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
      return { malformed: undefined, request: { ...universal, body: replay([body.bytes(), next.value], chunks) } };
    }
  }
  const bytes = body.bytes();
  const malformed = problemOf(bytes, wire, universal.header.get(wire.encodingHeader), method.input, maxBodyBytes);
  if (malformed === undefined) return { malformed, request: { ...universal, body: replay([bytes]) } };
  // The twin reads an empty message, uncompressed, so that its method runs and throws.
  const header = new Headers(universal.header);
  for (const name of ["content-length", "content-encoding", "connect-content-encoding", "grpc-encoding"]) header.delete(name);
  const emptyMessage = wire.codec === "json" ? new TextEncoder().encode("{}") : new Uint8Array(0);
  const empty = wire.framing === "unary" ? emptyMessage : envelope(emptyMessage);
  const contextValues = (universal.contextValues ?? createContextValues()).set(malformedKey, malformed);
  return { malformed, request: { ...universal, header, contextValues, body: replay([empty]) } };
}

/** What is wrong with the body, or undefined. */
function problemOf(bytes: Uint8Array, wire: Wire, encodingName: string | null, input: DescMessage, maxBodyBytes: number): string | undefined {
  // Names as connect compares them: exactly, no blanks or case folding.
  const encoding = encodingName ?? "identity";
  if (!Object.hasOwn(decompressors, encoding)) return `${wire.encodingHeader} "${encodingName}" is not one of identity, gzip, br`;
  const decompress = decompressors[encoding] ?? null;
  if (wire.framing === "unary") return messageProblem(bytes, decompress, wire.codec, input, maxBodyBytes);
  let offset = 0;
  let messages = 0;
  while (offset < bytes.byteLength) {
    if (offset + envelopeHeaderBytes > bytes.byteLength) return "the body ends inside an envelope header";
    const flags = bytes[offset] as number;
    const length = new DataView(bytes.buffer, bytes.byteOffset + offset + 1, 4).getUint32(0);
    const start = offset + envelopeHeaderBytes;
    if (start + length > bytes.byteLength) return "the body ends inside an envelope";
    if ((flags & ~compressedFlag) !== 0) return `envelope flags 0x${flags.toString(16)} are not valid in a request`;
    if ((flags & compressedFlag) !== 0 && decompress === null) return `a compressed envelope without ${wire.encodingHeader}`;
    messages += 1;
    if (messages > 1) return "more than one request message";
    const problem = messageProblem(bytes.subarray(start, start + length), (flags & compressedFlag) !== 0 ? decompress : null, wire.codec, input, maxBodyBytes);
    if (problem !== undefined) return problem;
    offset = start + length;
  }
  return messages === 0 ? "no request message" : undefined;
}

function messageProblem(
  bytes: Uint8Array,
  decompress: ((bytes: Uint8Array, maxBytes: number) => Buffer) | null,
  codec: Wire["codec"],
  input: DescMessage,
  maxBodyBytes: number,
): string | undefined {
  let message = bytes;
  if (decompress !== null) {
    try {
      message = decompress(bytes, maxBodyBytes);
    } catch (error) {
      // Over the limit once decompressed is connect's to answer (resource_exhausted); corrupt data is ours.
      return (error as { code?: string }).code === "ERR_BUFFER_TOO_LARGE" ? undefined : "the compressed message could not be decompressed";
    }
  }
  try {
    if (codec === "proto") fromBinary(input, message);
    else fromJsonString(input, utf8.decode(message));
    return undefined;
  } catch {
    return `not a ${codec === "proto" ? "binary" : "JSON"} ${input.typeName}`;
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function envelope(message: Uint8Array): Uint8Array {
  const framed = new Uint8Array(envelopeHeaderBytes + message.byteLength);
  new DataView(framed.buffer).setUint32(1, message.byteLength);
  framed.set(message, envelopeHeaderBytes);
  return framed;
}

/** What the twin router tells the caller was wrong. */
const malformedKey = createContextKey<string>("", { description: "fleetbeat malformed request" });

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
    const error = (context: HandlerContext): FleetbeatError => new FleetbeatError("MALFORMED_BODY", context.values.get(malformedKey) || `not a ${method.input.typeName}`);
    implementation[method.localName] =
      method.methodKind !== "unary"
        ? async function* malformed(_request: unknown, context: HandlerContext): AsyncGenerator<never> {
            throw error(context);
          }
        : (_request: unknown, context: HandlerContext) => {
            throw error(context);
          };
  }
  return implementation;
}

/** The request path of every method the router serves ("/pkg.Service/Method"). */
export function proceduresOf(services: readonly GuardedService[]): Set<string> {
  return new Set(services.flatMap(({ service }) => service.methods.map((method: DescMethod) => procedureOf(method))));
}
