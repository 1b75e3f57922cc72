// HTTP/1.1 by hand over a plain socket, for tests that need exact bytes or
// control over how a request is sent (headers first, body later, chunked).
import * as net from "node:net";

export interface RawResponse {
  statusLine: string;
  status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
  /** True when the server closed the connection after the response. */
  closed: boolean;
}

/** Opens a connection to 127.0.0.1:port. */
export async function connectRaw(port: number): Promise<net.Socket> {
  const socket = net.connect(port, "127.0.0.1");
  await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  return socket;
}

/**
 * Reads one response (Content-Length framed, or until the server closes) from
 * `socket`. `closeWaitMs`: after a complete response, how long to wait to see
 * whether the server closes the connection.
 */
export function readResponse(socket: net.Socket, closeWaitMs = 0): Promise<RawResponse> {
  return new Promise<RawResponse>((resolve, reject) => {
    let received = Buffer.alloc(0);
    let parsed: Omit<RawResponse, "closed"> | undefined;
    let settled = false;
    const finish = (closed: boolean): void => {
      if (settled || parsed === undefined) return;
      settled = true;
      socket.off("data", onData);
      resolve({ ...parsed, closed });
    };
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf("\r\n\r\n");
      if (end < 0) return;
      const lines = received.subarray(0, end).toString("latin1").split("\r\n");
      const statusLine = lines[0] ?? "";
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(":");
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
      }
      const length = headers["content-length"];
      const body = received.subarray(end + 4);
      if (length === undefined || body.length < Number(length)) return;
      parsed = { statusLine, status: Number(statusLine.split(" ")[1]), headers, body: body.subarray(0, Number(length)) };
      if (closeWaitMs === 0 || socket.destroyed) finish(socket.destroyed);
      else setTimeout(() => finish(socket.destroyed || socket.readableEnded), closeWaitMs);
    };
    socket.on("data", onData);
    socket.once("close", () => {
      if (parsed !== undefined) finish(true);
      else if (!settled) {
        settled = true;
        reject(new Error(`connection closed before a complete response: ${JSON.stringify(received.toString("latin1"))}`));
      }
    });
    socket.once("error", (error) => {
      if (!settled && parsed === undefined) {
        settled = true;
        reject(error);
      }
    });
  });
}

/** Sends `request` (the whole text) on a new connection and reads the response. */
export async function rawRequest(port: number, request: string | Buffer): Promise<RawResponse> {
  const socket = await connectRaw(port);
  try {
    const response = readResponse(socket);
    socket.write(request);
    return await response;
  } finally {
    socket.destroy();
  }
}
