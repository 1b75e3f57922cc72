// CORS on a real server over loopback HTTP: preflights of the tracking path and
// of Connect / gRPC-Web procedures from a listed origin, from another origin and
// with "*"; the actual POST's Access-Control-Allow-Origin and exposed headers;
// and nothing of it when --cors-origins is not set (OPTIONS keeps its 405).
import { createHash } from "node:crypto";
import { create, toBinary } from "@bufbuild/protobuf";
import { cors as connectCors } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CollectionSchema, PayloadSchema } from "../gen/fleetbeat/track/v1/collection_pb.js";
import { defaultConfig } from "../server/core/config.js";
import { createCorsHandler, preflightMaxAgeSeconds } from "../server/http/cors.js";
import { startTestServer, type TestServer } from "./support/server.js";

const app = "https://app.example.com";
const other = "https://evil.example.net";
const secret = "browser-secret";
const trackPath = "/api/v1/track";
const checkPath = "/grpc.health.v1.Health/Check";
const md5 = (data: Uint8Array | string) => createHash("md5").update(data).digest("hex");
const sign = (time: string, body: Uint8Array, key: string) => createHash("sha256").update(`${time}|${md5(body)}|${key}`).digest("base64");

function signedTrackBody(): Uint8Array {
  const deviceId = createHash("sha256").update(`device-${Math.random()}`).digest("hex");
  return toBinary(
    CollectionSchema,
    create(CollectionSchema, {
      deviceId,
      clientId: "web-app",
      session: md5(`${deviceId}:web-app:14.1:2.0.0`),
      systemVersion: "14.1",
      productVersion: "2.0.0",
      payloads: [create(PayloadSchema, { at: 1_700_000_000n, event: "page_view", nr: 1 })],
    }),
  );
}

function preflight(base: string, path: string, origin: string, requestHeaders: string): Promise<Response> {
  return fetch(`${base}${path}`, {
    method: "OPTIONS",
    headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": requestHeaders },
  });
}

function postTrack(base: string, origin: string | undefined): Promise<Response> {
  const body = signedTrackBody();
  const time = String(Math.floor(Date.now() / 1000));
  return fetch(`${base}${trackPath}`, {
    method: "POST",
    headers: {
      ...(origin === undefined ? {} : { origin }),
      "content-type": "application/protobuf",
      "x-hamustro-time": time,
      "x-hamustro-signature": sign(time, body, secret),
    },
    body: Buffer.from(body),
  });
}

const listOf = (value: string | null): string[] => (value ?? "").split(",").map((name) => name.trim().toLowerCase()).filter((name) => name !== "");

describe("--cors-origins with exact origins", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ corsOrigins: [app, "http://localhost:5173"], track: { ...defaultConfig.track, secrets: { secret } } });
  });
  afterAll(async () => {
    await t?.dispose();
  });

  it("answers the tracking path's preflight from a listed origin: 204, the origin echoed, Vary, methods, the Hamustro headers, max age", async () => {
    const answer = await preflight(t.server.url, trackPath, app, "content-type,x-hamustro-time,x-hamustro-signature");
    expect(answer.status).toBe(204);
    expect(answer.headers.get("access-control-allow-origin")).toBe(app);
    expect(listOf(answer.headers.get("vary"))).toContain("origin");
    expect(listOf(answer.headers.get("access-control-allow-methods"))).toContain("post");
    const allowed = listOf(answer.headers.get("access-control-allow-headers"));
    for (const name of ["content-type", "x-hamustro-time", "x-hamustro-signature"]) expect(allowed).toContain(name);
    expect(answer.headers.get("access-control-max-age")).toBe(String(preflightMaxAgeSeconds));
    expect(await answer.text()).toBe("");
  });

  it("refuses the preflight of an origin not on the list: 403, no CORS header at all", async () => {
    const answer = await preflight(t.server.url, trackPath, other, "content-type,x-hamustro-time,x-hamustro-signature");
    expect(answer.status).toBe(403);
    expect(((await answer.json()) as { error: string }).error).toBe("CORS_ORIGIN_NOT_ALLOWED");
    answer.headers.forEach((_value, name) => expect(name).not.toMatch(/^access-control-/));
    // An origin differing only in the port is another origin.
    expect((await preflight(t.server.url, trackPath, "https://app.example.com:8443", "content-type")).status).toBe(403);
  });

  it("gives the actual POST from a listed origin Access-Control-Allow-Origin and the exposed headers; another origin's POST gets none", async () => {
    const listed = await postTrack(t.server.url, app);
    expect(listed.status).toBe(200);
    expect(listed.headers.get("access-control-allow-origin")).toBe(app);
    expect(listOf(listed.headers.get("vary"))).toContain("origin");
    const exposed = listOf(listed.headers.get("access-control-expose-headers"));
    for (const name of ["retry-after", "grpc-status", "grpc-message"]) expect(exposed).toContain(name);

    const unlisted = await postTrack(t.server.url, other);
    expect(unlisted.status).toBe(200);
    expect(unlisted.headers.get("access-control-allow-origin")).toBeNull();
    const sameOrigin = await postTrack(t.server.url, undefined);
    expect(sameOrigin.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("answers Connect and gRPC-Web preflights of a procedure with connect's request headers, and the Connect call gets the origin", async () => {
    const connect = await preflight(t.server.url, checkPath, "http://localhost:5173", "content-type,connect-protocol-version,connect-timeout-ms,authorization");
    expect(connect.status).toBe(204);
    expect(connect.headers.get("access-control-allow-origin")).toBe("http://localhost:5173");
    const allowed = listOf(connect.headers.get("access-control-allow-headers"));
    for (const name of [...connectCors.allowedHeaders, "authorization"]) expect(allowed).toContain(name.toLowerCase());
    for (const method of connectCors.allowedMethods) expect(listOf(connect.headers.get("access-control-allow-methods"))).toContain(method.toLowerCase());

    const grpcWeb = await preflight(t.server.url, checkPath, app, "content-type,x-grpc-web,x-user-agent,grpc-timeout");
    expect(grpcWeb.status).toBe(204);
    expect(grpcWeb.headers.get("access-control-allow-origin")).toBe(app);

    const call = await fetch(`${t.server.url}${checkPath}`, {
      method: "POST",
      headers: { origin: app, "content-type": "application/json", "connect-protocol-version": "1" },
      body: "{}",
    });
    expect(call.status).toBe(200);
    expect(await call.json()).toEqual({ status: "SERVING" });
    expect(call.headers.get("access-control-allow-origin")).toBe(app);
    expect(listOf(call.headers.get("access-control-expose-headers"))).toContain("grpc-status");
  });

  it("leaves other paths alone: /metrics and /readyz get no CORS headers and OPTIONS there stays 405", async () => {
    const readyz = await fetch(`${t.server.url}/readyz`, { headers: { origin: app } });
    expect(readyz.status).toBe(200);
    expect(readyz.headers.get("access-control-allow-origin")).toBeNull();
    expect((await preflight(t.server.url, "/readyz", app, "content-type")).status).toBe(405);
  });
});

describe('--cors-origins "*"', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ corsOrigins: ["*"], track: { ...defaultConfig.track, secrets: { secret } } });
  });
  afterAll(async () => {
    await t?.dispose();
  });

  it("allows any origin with Access-Control-Allow-Origin: * on preflight and on the POST", async () => {
    const answer = await preflight(t.server.url, trackPath, other, "content-type,x-hamustro-time,x-hamustro-signature");
    expect(answer.status).toBe(204);
    expect(answer.headers.get("access-control-allow-origin")).toBe("*");
    const posted = await postTrack(t.server.url, other);
    expect(posted.status).toBe(200);
    expect(posted.headers.get("access-control-allow-origin")).toBe("*");
  });
});

describe("without --cors-origins (the default)", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ track: { ...defaultConfig.track, secrets: { secret } } });
  });
  afterAll(async () => {
    await t?.dispose();
  });

  it("answers OPTIONS /api/v1/track 405 as before and adds no CORS header anywhere", async () => {
    const answer = await preflight(t.server.url, trackPath, app, "content-type");
    expect(answer.status).toBe(405);
    expect(answer.headers.get("allow")).toBe("POST");
    expect(answer.headers.get("access-control-allow-origin")).toBeNull();
    const posted = await postTrack(t.server.url, app);
    expect(posted.status).toBe(200);
    expect(posted.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("createCorsHandler", () => {
  it("refuses entries that are not origins as browsers send them", () => {
    expect(createCorsHandler([])).toBeUndefined();
    expect(() => createCorsHandler(["https://app.example.com/"])).toThrow(/did you mean "https:\/\/app.example.com"/);
    expect(() => createCorsHandler(["app.example.com"])).toThrow(/not an origin/);
    expect(() => createCorsHandler(["*", app])).toThrow(/takes no others/);
    expect(createCorsHandler([app, "http://localhost:5173"])).toBeTypeOf("function");
  });
});
