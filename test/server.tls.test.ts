// TLS on the one port: ALPN picks h2 (gRPC, and anything else over HTTP/2) or
// http/1.1 (Connect, gRPC-Web, legacy paths). The certificate is made here.
import * as http2 from "node:http2";
import * as https from "node:https";
import * as net from "node:net";
import * as tls from "node:tls";
import { afterAll, beforeAll, expect, test } from "vitest";
import { KeyService } from "../gen/fleetbeat/operator/v1/keys_pb.js";
import { clientFor, responseContentType, wireProtocols } from "./support/clients.js";
import { bearer, makeTempDir, operatorSecret, startTestServer, type TestServer } from "./support/server.js";
import { makeSelfSignedCertificate, type TestCertificate } from "./support/tls.js";

let t: TestServer;
let certificate: TestCertificate;
let admin: string;

beforeAll(async () => {
  const dataDir = await makeTempDir();
  certificate = await makeSelfSignedCertificate(dataDir);
  t = await startTestServer({ tlsCert: certificate.certFile, tlsKey: certificate.keyFile }, { dataDir });
  admin = await operatorSecret(t.server.store, "admin");
});

afterAll(async () => {
  await t?.dispose();
});

test("the server announces an https URL", () => {
  expect(t.server.url).toBe(`https://127.0.0.1:${t.server.port}`);
});

test.each(wireProtocols)("%s over TLS", async (protocol) => {
  const keys = clientFor(KeyService, protocol, t.server.url, { ca: certificate.cert });
  let contentType = "";
  const answer = await keys.listKeys({}, { headers: bearer(admin), onHeader: (headers) => (contentType = headers.get("content-type") ?? "") });
  expect(answer.keys.length).toBeGreaterThan(0);
  expect(contentType).toMatch(responseContentType[protocol]);
});

function alpnOf(protocols: string[]): Promise<string | false | null> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port: t.server.port, ca: certificate.cert, ALPNProtocols: protocols }, () => {
      const chosen = socket.alpnProtocol ?? null;
      socket.destroy();
      resolve(chosen);
    });
    socket.once("error", reject);
  });
}

test("ALPN offers h2 and http/1.1", async () => {
  expect(await alpnOf(["h2"])).toBe("h2");
  expect(await alpnOf(["http/1.1"])).toBe("http/1.1");
  expect(await alpnOf(["h2", "http/1.1"])).toBe("h2");
});

test("GET /api/health over HTTP/1.1 and over h2", async () => {
  const overHttp1 = await new Promise<{ version: string; body: string }>((resolve, reject) => {
    https
      .get(`${t.server.url}/api/health`, { ca: certificate.cert, agent: false }, (response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (body += chunk));
        response.on("end", () => resolve({ version: response.httpVersion, body }));
      })
      .on("error", reject);
  });
  expect(overHttp1).toEqual({ version: "1.1", body: '{"up":true}' });

  const session = http2.connect(t.server.url, { ca: certificate.cert });
  try {
    const stream = session.request({ ":path": "/api/health" });
    let body = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => (body += chunk));
    const status = await new Promise<number | undefined>((resolve) => stream.once("response", (headers) => resolve(headers[":status"])));
    await new Promise<void>((resolve, reject) => stream.once("end", resolve).once("error", reject));
    expect(status).toBe(200);
    expect(body).toBe('{"up":true}');
  } finally {
    session.close();
  }
});

test("stop() with TLS: resolves, and new connections are refused", async () => {
  await t.server.stop();
  const refused = await new Promise<string>((resolve) => {
    const socket = net.connect(t.server.port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve("connected");
    });
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? "error"));
  });
  expect(refused).toBe("ECONNREFUSED");
});
