// One port for every protocol.
//
// Plain text: Node cannot serve HTTP/1.1 and cleartext HTTP/2 (h2c) from one
// server, so a net.Server accepts each connection and looks at its first bytes.
// The HTTP/2 client connection preface ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
// which may arrive split over several packets) sends the socket to an http2
// server (gRPC); anything else to an http server (HTTP/1.1: Connect, gRPC-Web,
// legacy paths). The bytes read are put back before the hand-over.
//
// TLS: one http2 secure server with allowHTTP1, where ALPN chooses h2 or
// http/1.1.
//
// The listener caps open connections, overall and per client address: a new
// connection past either cap is closed at once, before a byte is read, and
// counted (so ~20,000 trickling connections cannot use up the file descriptors
// every other client needs).
//
// The listener also owns the connections' lifecycle for graceful shutdown: it
// counts in-flight requests, closes idle keep-alive connections, sends GOAWAY on
// HTTP/2 sessions and, at the end, destroys whatever is left.
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import type { ErrorLog } from "../core/error-log.js";
import { FleetbeatError, writeError } from "../core/errors.js";
import type { ConnectionRefusal } from "../core/metrics.js";
import type { RequestHandler } from "./connect.js";
import { isHttp1, normalizeAddress, type NodeRequest, type NodeResponse } from "./peer.js";

const preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** Connection timeouts (milliseconds). */
export const httpTimeouts = {
  /** An idle HTTP/1.1 keep-alive connection is closed after this. */
  keepAliveMs: 5_000,
  /** The request line and headers must arrive within this (408 otherwise). */
  headersMs: 20_000,
  /** The whole request, body included, must arrive within this (408 otherwise). */
  requestMs: 120_000,
  /** How often Node checks the two limits above. */
  checkIntervalMs: 1_000,
  /** A new plain-text connection must send its first bytes within this. */
  firstBytesMs: 20_000,
  /** An HTTP/2 session without any traffic is closed after this. */
  sessionIdleMs: 300_000,
} as const;

export interface ListenOptions {
  readonly host: string;
  readonly port: number;
  /** PEM certificate and key: TLS with ALPN (h2, http/1.1). */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer };
  readonly handler: RequestHandler;
  readonly logger: Logger;
  /** Most connections open at once; 0: no cap. */
  readonly maxConnections?: number;
  /** Most connections open at once from one client address; 0: no cap. */
  readonly maxConnectionsPerAddress?: number;
  /** A new connection was closed at once because of a cap. */
  readonly onRefused?: (reason: ConnectionRefusal) => void;
  /** Where the listening socket's errors go (accept failures repeat: folded); defaults to the logger. */
  readonly errorLog?: ErrorLog;
}

export interface Listener {
  readonly port: number;
  /** Base URL for clients on this machine ("http://127.0.0.1:6011"). */
  readonly url: string;
  /** Requests being answered right now. */
  readonly inFlight: number;
  /** Connections open right now. */
  readonly connections: number;
  /** True once drain() was called. */
  readonly draining: boolean;
  /**
   * Stops accepting connections, closes idle ones, sends GOAWAY on HTTP/2
   * sessions, and makes every further HTTP/1.1 answer close its connection.
   */
  drain(): void;
  /** Resolves true once no request is in flight, false if `timeoutMs` passes first. */
  waitIdle(timeoutMs: number): Promise<boolean>;
  /** Destroys every remaining connection and resolves once the server is closed. */
  close(): Promise<void>;
}

export async function listen(options: ListenOptions): Promise<Listener> {
  const { logger } = options;
  const sockets = new Set<net.Socket>();
  const sniffing = new Set<net.Socket>();
  const sessions = new Set<http2.Http2Session>();
  const http1Responses = new Set<NodeResponse>();
  let inFlight = 0;
  let draining = false;
  let idleWaiters: Array<() => void> = [];

  function onRequest(request: NodeRequest, response: NodeResponse): void {
    inFlight += 1;
    const http1 = isHttp1(request);
    if (http1) {
      if (draining) response.setHeader("connection", "close");
      http1Responses.add(response);
    }
    response.once("close", () => {
      inFlight -= 1;
      http1Responses.delete(response);
      if (inFlight === 0) {
        const waiters = idleWaiters;
        idleWaiters = [];
        for (const wake of waiters) wake();
      }
    });
    options.handler(request, response);
  }

  const maxConnections = options.maxConnections ?? 0;
  const maxPerAddress = options.maxConnectionsPerAddress ?? 0;
  const perAddress = new Map<string, number>();

  /** Admits a new connection (true) or closes it at once because of a cap (false). */
  function admit(socket: net.Socket): boolean {
    const address = normalizeAddress(socket.remoteAddress ?? "");
    const fromAddress = perAddress.get(address) ?? 0;
    const refusal: ConnectionRefusal | undefined =
      maxConnections > 0 && sockets.size >= maxConnections
        ? "total"
        : maxPerAddress > 0 && fromAddress >= maxPerAddress
          ? "per_address"
          : undefined;
    if (refusal !== undefined) {
      // Nothing was read, so closing sends FIN, not RST: the client sees the
      // connection end before any answer and may retry later.
      socket.on("error", () => {});
      socket.destroy();
      options.onRefused?.(refusal);
      return false;
    }
    sockets.add(socket);
    perAddress.set(address, fromAddress + 1);
    socket.once("close", () => {
      sockets.delete(socket);
      const left = (perAddress.get(address) ?? 1) - 1;
      if (left === 0) perAddress.delete(address);
      else perAddress.set(address, left);
    });
    return true;
  }

  function trackSession(session: http2.Http2Session): void {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    session.on("error", (error) => logger.debug({ err: error }, "http2 session error"));
    // Idle: no frame either way (open streams wait: close() lets them finish).
    session.setTimeout(httpTimeouts.sessionIdleMs, () => session.close());
    if (draining) session.close();
  }

  let server: net.Server;
  let closeHttp1Idle: () => void;
  let stopHttp1Checks: () => void = () => {};

  if (options.tls) {
    const secure = http2.createSecureServer({
      cert: options.tls.cert,
      key: options.tls.key,
      allowHTTP1: true,
      ALPNProtocols: ["h2", "http/1.1"],
    });
    // With allowHTTP1, HTTP/1.1 connections are served by node:http's code, which
    // reads these limits from this server (Node 20 sets them up; @types/node
    // does not declare them).
    const http1 = secure as unknown as Http1ServerLimits;
    http1.keepAliveTimeout = httpTimeouts.keepAliveMs;
    http1.headersTimeout = httpTimeouts.headersMs;
    http1.requestTimeout = httpTimeouts.requestMs;
    http1.connectionsCheckingInterval = httpTimeouts.checkIntervalMs;
    secure.on("request", onRequest);
    secure.on("session", trackSession);
    // tls.Server emits "connection" with the TCP socket before the handshake starts.
    secure.on("connection", admit);
    secure.on("tlsClientError", (error) => logger.debug({ err: error }, "TLS handshake failed"));
    server = secure;
    closeHttp1Idle = () => http1.closeIdleConnections();
  } else {
    const h1 = http.createServer({
      keepAliveTimeout: httpTimeouts.keepAliveMs,
      headersTimeout: httpTimeouts.headersMs,
      requestTimeout: httpTimeouts.requestMs,
      connectionsCheckingInterval: httpTimeouts.checkIntervalMs,
    });
    h1.on("request", onRequest);
    h1.on("clientError", answerClientError);
    const h2 = http2.createServer();
    h2.on("request", onRequest);
    h2.on("session", trackSession);
    h2.on("sessionError", (error) => logger.debug({ err: error }, "http2 session error"));
    // h1 never listens itself (the net.Server below does), but Node starts its
    // header/request timeout checks and its connection list when an http.Server
    // emits "listening": do that, and stop them again on close.
    h1.emit("listening");
    stopHttp1Checks = () => h1.close(() => {});
    closeHttp1Idle = () => h1.closeIdleConnections();

    server = net.createServer({ noDelay: true }, (socket) => {
      if (!admit(socket)) return;
      sniff(socket, sniffing, (socket, isHttp2) => (isHttp2 ? h2 : h1).emit("connection", socket));
    });
  }

  // One settle per outcome, and neither listener left behind: the start-up
  // error (EADDRINUSE, EADDRNOTAVAIL, EACCES) rejects listen() once, and serve
  // turns it into one line (cli/serve.ts).
  const listening = server;
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => {
      listening.off("listening", onListening);
      stopHttp1Checks();
      reject(error);
    };
    const onListening = (): void => {
      listening.off("error", onError);
      resolve();
    };
    listening.once("error", onError);
    listening.once("listening", onListening);
    listening.listen(options.port, options.host);
  });
  const errorLog: ErrorLog = options.errorLog ?? { error: (error, fields, message) => logger.error({ ...fields, err: error }, message) };
  server.on("error", (error) => errorLog.error(error, {}, "listener error"));

  const address = server.address() as net.AddressInfo;
  const scheme = options.tls ? "https" : "http";
  const url = `${scheme}://${clientHost(options.host)}:${address.port}`;
  const closed = new Promise<void>((resolve) => server.once("close", () => resolve()));

  const listener: Listener = {
    port: address.port,
    url,
    get inFlight() {
      return inFlight;
    },
    get connections() {
      return sockets.size;
    },
    get draining() {
      return draining;
    },
    drain() {
      if (draining) return;
      draining = true;
      server.close();
      for (const socket of sniffing) socket.destroy();
      closeHttp1Idle();
      for (const session of sessions) session.close();
      for (const response of http1Responses) {
        if (!response.headersSent) response.setHeader("connection", "close");
      }
    },
    waitIdle(timeoutMs) {
      if (inFlight === 0) return Promise.resolve(true);
      return new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          idleWaiters = idleWaiters.filter((waiter) => waiter !== wake);
          resolve(false);
        }, timeoutMs);
        const wake = (): void => {
          clearTimeout(timer);
          resolve(true);
        };
        idleWaiters.push(wake);
      });
    },
    async close() {
      listener.drain();
      for (const session of sessions) session.destroy();
      for (const socket of sockets) socket.destroy();
      stopHttp1Checks();
      await closed;
    },
  };
  return listener;
}

/** The HTTP/1.1 side of an http2 secure server with allowHTTP1. */
interface Http1ServerLimits {
  keepAliveTimeout: number;
  headersTimeout: number;
  requestTimeout: number;
  connectionsCheckingInterval: number;
  closeIdleConnections(): void;
}

/**
 * Reads the first bytes of a plain-text connection until they either are the
 * whole HTTP/2 preface or stop being a prefix of it, puts them back, and hands
 * the socket over.
 */
function sniff(socket: net.Socket, sniffing: Set<net.Socket>, handOver: (socket: net.Socket, isHttp2: boolean) => void): void {
  sniffing.add(socket);
  let received: Buffer = Buffer.alloc(0);
  const onTimeout = (): void => {
    socket.destroy();
  };
  const onError = (): void => {
    socket.destroy();
  };
  const onClose = (): void => {
    sniffing.delete(socket);
  };
  const onData = (chunk: Buffer): void => {
    received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
    const compared = Math.min(received.length, preface.length);
    const isPrefix = received.subarray(0, compared).equals(preface.subarray(0, compared));
    if (isPrefix && received.length < preface.length) return;
    socket.off("data", onData);
    socket.off("timeout", onTimeout);
    socket.off("error", onError);
    socket.off("close", onClose);
    socket.setTimeout(0);
    sniffing.delete(socket);
    socket.pause();
    socket.unshift(received);
    handOver(socket, isPrefix);
    // The new owner attached its listeners during the hand-over; let the bytes flow.
    process.nextTick(() => socket.resume());
  };
  socket.setTimeout(httpTimeouts.firstBytesMs);
  socket.on("timeout", onTimeout);
  socket.on("error", onError);
  socket.on("close", onClose);
  socket.on("data", onData);
}

function clientHost(host: string): string {
  if (host === "0.0.0.0" || host === "") return "127.0.0.1";
  if (host === "::") return "[::1]";
  return net.isIPv6(host) ? `[${host}]` : host;
}

/** Bytes and time a refused connection may still send (and we discard) before it is closed. */
const clientErrorLinger = { maxBytes: 1 << 20, maxMs: 2_000 };

/**
 * A request Node's HTTP/1.1 parser refused (headers over the size limit, bad
 * syntax, too slow): the answer through writeError (431, 400 or 408), then a
 * lingering close, so a client still writing its request reads the answer
 * instead of a reset.
 */
function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === "ECONNRESET" || !socket.writable) {
    socket.destroy();
    return;
  }
  const refusal =
    error.code === "HPE_HEADER_OVERFLOW"
      ? new FleetbeatError("HEADERS_TOO_LARGE")
      : error.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? new FleetbeatError("REQUEST_TIMEOUT")
        : new FleetbeatError("BAD_REQUEST", "the request is not valid HTTP/1.1");
  writeError(socket, refusal);
  let drained = 0;
  const timer = setTimeout(() => socket.destroy(), clientErrorLinger.maxMs);
  socket.once("close", () => clearTimeout(timer));
  socket.on("data", (chunk: Buffer) => {
    drained += chunk.byteLength;
    if (drained > clientErrorLinger.maxBytes) socket.destroy();
  });
  socket.once("end", () => socket.destroy());
  socket.resume();
}
