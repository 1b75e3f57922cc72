// A minimal HTTP/1.1 keep-alive client over one raw TCP socket, for the load
// generator only. node:http's client costs more CPU per request than the servers
// we measure, and the load process shares the machine with the server; this one
// writes pre-serialised requests and parses just enough of the response (status
// line, Content-Length or chunked body, Connection: close) to find its end.
import net from "node:net";

export interface BenchRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: Uint8Array;
}

export interface BenchResponse {
  status: number;
  /** The body, only when the connection was asked to keep bodies. */
  body?: Buffer;
}

/** Serialises a request once; the buffer can be written many times. */
export function serializeRequest(request: BenchRequest, host: string): Buffer {
  const body = request.body ?? new Uint8Array(0);
  let head = `${request.method} ${request.path} HTTP/1.1\r\nHost: ${host}\r\n`;
  let hasLength = false;
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    if (name.toLowerCase() === "content-length") hasLength = true;
    head += `${name}: ${value}\r\n`;
  }
  if (!hasLength && (body.length > 0 || request.method !== "GET")) head += `Content-Length: ${body.length}\r\n`;
  head += "\r\n";
  const headBytes = Buffer.from(head, "latin1");
  return Buffer.concat([headBytes, body]);
}

const CRLFCRLF = Buffer.from("\r\n\r\n");

interface Pending {
  resolve(response: BenchResponse): void;
  reject(error: Error): void;
}

/** One keep-alive connection carrying one request at a time. */
export class RawConnection {
  private socket: net.Socket | undefined;
  private buffer: Buffer = Buffer.alloc(0);
  private pending: Pending | undefined;
  private connecting: Promise<void> | undefined;

  constructor(
    private readonly port: number,
    private readonly hostname: string,
    private readonly keepBodies = false,
  ) {}

  async send(request: Buffer): Promise<BenchResponse> {
    if (!this.socket || this.socket.destroyed) await this.connect();
    return new Promise<BenchResponse>((resolve, reject) => {
      this.pending = { resolve, reject };
      this.socket!.write(request);
    });
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  private connect(): Promise<void> {
    if (this.connecting) return this.connecting;
    this.buffer = Buffer.alloc(0);
    this.connecting = new Promise<void>((resolve, reject) => {
      const socket = net.connect({ port: this.port, host: this.hostname, noDelay: true });
      socket.once("connect", () => {
        this.connecting = undefined;
        resolve();
      });
      socket.on("data", (chunk: Buffer) => this.onData(chunk));
      socket.on("error", (error) => {
        this.connecting = undefined;
        reject(error);
        this.failPending(error);
      });
      socket.on("close", () => {
        this.failPending(new Error("connection closed"));
      });
      this.socket = socket;
    });
    return this.connecting;
  }

  private failPending(error: Error): void {
    const pending = this.pending;
    this.pending = undefined;
    this.socket = undefined;
    pending?.reject(error);
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const parsed = parseResponse(this.buffer, this.keepBodies);
    if (!parsed) return;
    this.buffer = this.buffer.subarray(parsed.consumed);
    const pending = this.pending;
    this.pending = undefined;
    if (parsed.close) this.close();
    pending?.resolve(parsed.response);
  }
}

interface Parsed {
  response: BenchResponse;
  consumed: number;
  close: boolean;
}

/** Parses one complete response at the start of `data`, or returns undefined if more bytes are needed. */
export function parseResponse(data: Buffer, keepBody = false): Parsed | undefined {
  const headEnd = data.indexOf(CRLFCRLF);
  if (headEnd < 0) return undefined;
  const head = data.toString("latin1", 0, headEnd);
  const lines = head.split("\r\n");
  const status = Number.parseInt(lines[0]!.slice(9, 12), 10);
  let contentLength = -1;
  let chunked = false;
  let close = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(":");
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim().toLowerCase();
    if (name === "content-length") contentLength = Number.parseInt(value, 10);
    else if (name === "transfer-encoding") chunked = value.includes("chunked");
    else if (name === "connection") close = value === "close";
  }
  const bodyStart = headEnd + 4;
  if (chunked) {
    let offset = bodyStart;
    const parts: Buffer[] = [];
    for (;;) {
      const lineEnd = data.indexOf("\r\n", offset, "latin1");
      if (lineEnd < 0) return undefined;
      const size = Number.parseInt(data.toString("latin1", offset, lineEnd), 16);
      if (size === 0) {
        // Last chunk, no trailers expected: "0\r\n\r\n".
        if (data.length < lineEnd + 4) return undefined;
        const body = keepBody ? Buffer.concat(parts) : undefined;
        return { response: { status, ...(body ? { body } : {}) }, consumed: lineEnd + 4, close };
      }
      const chunkEnd = lineEnd + 2 + size;
      if (data.length < chunkEnd + 2) return undefined;
      if (keepBody) parts.push(data.subarray(lineEnd + 2, chunkEnd));
      offset = chunkEnd + 2;
    }
  }
  const length = contentLength < 0 ? 0 : contentLength;
  if (data.length < bodyStart + length) return undefined;
  const body = keepBody ? Buffer.from(data.subarray(bodyStart, bodyStart + length)) : undefined;
  return { response: { status, ...(body ? { body } : {}) }, consumed: bodyStart + length, close };
}
