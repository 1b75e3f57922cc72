// Seeded HTTP fuzzing of a running server (test/fuzz.process.test.ts for CI,
// bench/fuzz.bench.ts for long runs): requests to every legacy path and every
// Connect/gRPC method, in every protocol the port speaks, with valid, mutated,
// truncated and random bodies, wrong content types and odd headers; each answer
// classified, every "server's fault" (HTTP >= 500, or a stream ending in a code
// that maps to one) recorded with the request that caused it.
import { createHash } from "node:crypto";
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import * as http from "node:http";
import * as http2 from "node:http2";
import {
  create,
  toBinary,
  toJsonString,
  ScalarType,
  type DescField,
  type DescMessage,
  type DescMethod,
  type DescService,
} from "@bufbuild/protobuf";
import { FeatureSet_FieldPresence } from "@bufbuild/protobuf/wkt";
import fc from "fast-check";
import { AgentService, HeartbeatRequestSchema, OnlineRequestSchema, UpdateRequestSchema } from "../../gen/fleetbeat/agent/v1/agent_pb.js";
import { HeartbeatService, NewHbRequestSchema } from "../../gen/fleetbeat/heartbeat/v1/heartbeat_pb.js";
import { CensusService } from "../../gen/fleetbeat/operator/v1/census_pb.js";
import { CommandService } from "../../gen/fleetbeat/operator/v1/commands_pb.js";
import { DeviceService } from "../../gen/fleetbeat/operator/v1/devices_pb.js";
import { EventService } from "../../gen/fleetbeat/operator/v1/events_pb.js";
import { KeyService } from "../../gen/fleetbeat/operator/v1/keys_pb.js";
import { MachineService } from "../../gen/fleetbeat/operator/v1/machines_pb.js";
import { ReleaseService } from "../../gen/fleetbeat/operator/v1/releases_pb.js";
import { StatsService } from "../../gen/fleetbeat/operator/v1/stats_pb.js";
import { CollectionSchema } from "../../gen/fleetbeat/track/v1/collection_pb.js";
import { TrackService } from "../../gen/fleetbeat/track/v1/track_service_pb.js";

/** Every service the server serves (server/<part>/slice.ts). */
export const services: readonly DescService[] = [
  TrackService,
  HeartbeatService,
  AgentService,
  CensusService,
  CommandService,
  DeviceService,
  EventService,
  KeyService,
  MachineService,
  ReleaseService,
  StatsService,
];

export const methods: readonly DescMethod[] = services.flatMap((service) => service.methods);

/** What the fuzzer knows about the server it talks to: credentials that get a request past the first checks. */
export interface FuzzContext {
  /** An admin operator key. */
  adminKey: string;
  /** The tracking shared secret. */
  trackSecret: string;
  /** A registered DI device and its token. */
  deviceId: string;
  deviceToken: string;
  /** The server's body limit (some bodies go just past it). */
  maxBodyBytes: number;
}

export interface FuzzRequest {
  /** A label of the request's kind (target, protocol, body), to group findings. */
  shape: string;
  transport: "http1" | "h2c";
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
  /** Send without Content-Length (chunked) instead of with it. */
  chunked: boolean;
  /** Server-streaming call: the client stops reading after a while. */
  streaming: boolean;
  /** Send on a new connection (HTTP/1.1 without the keep-alive pool, HTTP/2 on a new session). */
  fresh?: boolean;
  /** Wait PATIENT_TIMEOUT_MS instead of TIMEOUT_MS for an answer. */
  patient?: boolean;
}

// ---------------------------------------------------------------------------
// Bodies.

export const legacyPaths = ["/api/v1/track", "/hb/newHb", "/online", "/update", "/heartbeat"] as const;
type LegacyPath = (typeof legacyPaths)[number];

const legacySchemas: Record<LegacyPath, DescMessage> = {
  "/api/v1/track": CollectionSchema,
  "/hb/newHb": NewHbRequestSchema,
  "/online": OnlineRequestSchema,
  "/update": UpdateRequestSchema,
  "/heartbeat": HeartbeatRequestSchema,
};

/** The seeds' own request bodies, as devices send them (fixtures of server/track, heartbeat and agent). */
const legacyCorpus: Record<LegacyPath, string[]> = {
  "/api/v1/track": [
    '{"device_id":"a73b1c37-2c24-4786-af7a-16de88fbe23a","client_id":"bce44f67b2661fd445d469b525b04f68","session":"244f056dee6d475ec673ea0d20b69bab","system_version":"10.10","product_version":"1.1.2","system":"OSX","payloads":[{"at":1454514088,"event":"Client.CreateUser","nr":0,"user_id":0,"is_testing":false},{"at":"1454514089","event":"","nr":1,"user_id":42,"parameters":"{\\"k\\":1}","is_testing":true}]}',
  ],
  "/hb/newHb": [
    '{"versionInfo": "2.0", "machineId": "10000000a1b2c3d4", "hbId": "0b6f7c1e-3d2a-4f5b-9c8d-7e6f5a4b3c2d", "osType": "Linux", "osVersion": "5.10.17-v7l+", "country": "notSet", "region": "notSet"}',
    '{"versionInfo": 2, "machineId": "m", "hbId": "h"}',
  ],
  "/online": ['{  \n    "devicename": "EndPoint1",  \n    "ip": "127.0.0.1",  \n    "macaddress": "00:0c:29:59:ab:c6",  \n    "os": "Linux",  \n}'],
  "/update": ['{"devicename": "EndPoint1", "ip": "10.0.0.2", "macaddress": "00:0c:29:59:ab:c6", "os": "Linux"}'],
  "/heartbeat": [
    '{ \n    "result":{{"id"：111,"return": 1,"reason":"ok"}}  \n}',
    '{"result":[{"id":1,"return":0,"reason":"ok"},{"id":2,"return":1,"reason":"no"}]}',
    '{"result":{}}',
    "{}",
    '{"result":{"id":7,"return":0,"reason":"ok"}}',
  ],
};

const texts = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.constantFrom("", " ", "\u0000", "\ud800", "null", "-1", "1e309", "9223372036854775808", "../../etc/passwd", "a".repeat(300)),
);

function scalarArb(type: ScalarType): fc.Arbitrary<unknown> {
  switch (type) {
    case ScalarType.STRING:
      return texts;
    case ScalarType.BYTES:
      return fc.uint8Array({ maxLength: 64 });
    case ScalarType.BOOL:
      return fc.boolean();
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return fc.double();
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return fc.oneof(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.constantFrom(0n, 1n, -1n, 2n ** 53n));
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.constantFrom(0n, 1n, 2n ** 53n));
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return fc.oneof(fc.nat(), fc.constantFrom(0, 1, 0xffffffff));
    default:
      return fc.oneof(fc.integer(), fc.constantFrom(0, 1, -1, 2147483647, -2147483648));
  }
}

function singularArb(field: DescField, depth: number): fc.Arbitrary<unknown> {
  switch (field.fieldKind) {
    case "scalar":
      return scalarArb(field.scalar);
    case "enum":
      return fc.oneof(fc.constantFrom(...field.enum.values.map((v) => v.number)), fc.integer({ min: -5, max: 1000 }));
    case "message":
      return messageArb(field.message, depth + 1);
    case "list":
      if (field.listKind === "scalar") return fc.array(scalarArb(field.scalar), { maxLength: 6 });
      if (field.listKind === "enum") return fc.array(fc.integer({ min: -1, max: 10 }), { maxLength: 6 });
      return fc.array(messageArb(field.message, depth + 1), { maxLength: depth > 1 ? 0 : 4 });
    case "map":
      return fc.constant({});
  }
}

const messageArbCache = new Map<string, fc.Arbitrary<Record<string, unknown>>>();

/** Init objects for `create(desc, …)`: any subset of fields, values of the right kind (and edge values). */
function messageArb(desc: DescMessage, depth = 0): fc.Arbitrary<Record<string, unknown>> {
  const key = `${desc.typeName}@${depth}`;
  const cached = messageArbCache.get(key);
  if (cached) return cached;
  if (depth > 2) return fc.constant({});
  const record: Record<string, fc.Arbitrary<unknown>> = {};
  for (const member of desc.members) {
    if (member.kind === "oneof") {
      record[member.localName] = fc.oneof(...member.fields.map((field) => singularArb(field, depth).map((value) => ({ case: field.localName, value }))));
    } else {
      record[member.localName] = singularArb(member, depth);
    }
  }
  // proto2 `required` fields are always set (toBinary refuses a message without them).
  const required = desc.fields.filter((field) => field.presence === FeatureSet_FieldPresence.LEGACY_REQUIRED).map((field) => field.localName);
  const arb = fc.record(record, { requiredKeys: required as never[] });
  messageArbCache.set(key, arb);
  return arb;
}

/** A message of `desc` as binary and (when representable) as JSON. */
function encodings(desc: DescMessage, init: Record<string, unknown>): { binary: Buffer; json: string | undefined } {
  const message = create(desc, init as never);
  const binary = Buffer.from(toBinary(desc, message));
  let json: string | undefined;
  try {
    json = toJsonString(desc, message);
  } catch {
    json = undefined; // e.g. a Timestamp out of range has no JSON form
  }
  return { binary, json };
}

/** Any JSON value, a little nested (cheaper to draw than fc.jsonValue, which costs ~0.5 ms a value). */
const jsonScalar = fc.oneof(fc.constant(null), fc.boolean(), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), texts);
const jsonLike: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: jsonScalar },
  { weight: 1, arbitrary: fc.array(jsonScalar, { maxLength: 4 }) },
  { weight: 1, arbitrary: fc.dictionary(fc.string({ maxLength: 6 }), jsonScalar, { maxKeys: 4 }) },
  { weight: 1, arbitrary: fc.array(fc.array(fc.dictionary(fc.string({ maxLength: 3 }), jsonScalar, { maxKeys: 2 }), { maxLength: 2 }), { maxLength: 2 }) },
);

/** JSON objects with the message's own keys (and strangers) holding values of any type. */
function jsonKeysArb(desc: DescMessage): fc.Arbitrary<string> {
  const names = desc.fields.flatMap((field) => [field.jsonName, field.name]);
  return fc.dictionary(fc.oneof(fc.constantFrom(...names, "@type", "__proto__", "constructor"), fc.string({ maxLength: 8 })), jsonLike, { maxKeys: 6 }).map((value) => JSON.stringify(value));
}

/** Random protobuf-ish bytes: tags with every wire type, huge lengths, truncated varints, deep groups. */
const protobufish: fc.Arbitrary<Buffer> = fc
  .array(
    fc.record({
      field: fc.oneof(fc.integer({ min: 1, max: 12 }), fc.constantFrom(0, 19000, 536870911)),
      wire: fc.integer({ min: 0, max: 7 }),
      payload: fc.uint8Array({ maxLength: 24 }),
      length: fc.oneof(fc.constant(-1), fc.nat(), fc.constant(0x7fffffff)),
    }),
    { maxLength: 12 },
  )
  .map((parts) => {
    const out: number[] = [];
    const varint = (value: number): void => {
      let v = value >>> 0;
      while (v > 0x7f) {
        out.push((v & 0x7f) | 0x80);
        v >>>= 7;
      }
      out.push(v);
    };
    for (const part of parts) {
      varint(part.field * 8 + part.wire);
      if (part.wire === 2) varint(part.length === -1 ? part.payload.length : part.length);
      out.push(...part.payload);
    }
    return Buffer.from(out);
  });

type Mutation =
  | { kind: "none" }
  | { kind: "truncate"; at: number }
  | { kind: "flip"; at: number; bits: number }
  | { kind: "insert"; at: number; bytes: Uint8Array }
  | { kind: "repeat" }
  | { kind: "invalid-utf8"; at: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 3, arbitrary: fc.constant<Mutation>({ kind: "none" }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("truncate" as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("flip" as const), at: fc.double({ min: 0, max: 1, noNaN: true }), bits: fc.integer({ min: 1, max: 255 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("insert" as const), at: fc.double({ min: 0, max: 1, noNaN: true }), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }) },
  { weight: 1, arbitrary: fc.constant<Mutation>({ kind: "repeat" }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("invalid-utf8" as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }) },
);

function mutate(body: Buffer, mutation: Mutation): Buffer {
  const at = (fraction: number): number => Math.min(body.length, Math.floor(fraction * (body.length + 1)));
  switch (mutation.kind) {
    case "none":
      return body;
    case "truncate":
      return body.subarray(0, at(mutation.at));
    case "flip": {
      if (body.length === 0) return body;
      const copy = Buffer.from(body);
      const i = Math.min(copy.length - 1, at(mutation.at));
      copy[i] = copy[i]! ^ mutation.bits;
      return copy;
    }
    case "insert":
      return Buffer.concat([body.subarray(0, at(mutation.at)), Buffer.from(mutation.bytes), body.subarray(at(mutation.at))]);
    case "repeat":
      return Buffer.concat([body, body]);
    case "invalid-utf8":
      return Buffer.concat([body.subarray(0, at(mutation.at)), Buffer.from([0xc3, 0x28, 0xff, 0xfe]), body.subarray(at(mutation.at))]);
  }
}

interface Body {
  kind: string;
  bytes: Buffer;
}

/** A body for a message of `desc`: valid binary or JSON, JSON with any values, protobuf-ish or random bytes, mutated or not. */
function bodyArb(desc: DescMessage, prefer: "json" | "binary", corpus: readonly string[] = []): fc.Arbitrary<Body> {
  const valid = messageArb(desc).map((init) => {
    const { binary, json } = encodings(desc, init);
    return prefer === "json" && json !== undefined ? { kind: "valid-json", bytes: Buffer.from(json) } : { kind: "valid-binary", bytes: binary };
  });
  const sources: Array<{ weight: number; arbitrary: fc.Arbitrary<Body> }> = [
    { weight: 5, arbitrary: valid },
    { weight: 2, arbitrary: jsonKeysArb(desc).map((json) => ({ kind: "json-any-values", bytes: Buffer.from(json) })) },
    { weight: 2, arbitrary: protobufish.map((bytes) => ({ kind: "protobufish", bytes })) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 512 }).map((bytes) => ({ kind: "random", bytes: Buffer.from(bytes) })) },
    { weight: 1, arbitrary: jsonLike.map((value) => ({ kind: "json-value", bytes: Buffer.from(JSON.stringify(value) ?? "null") })) },
    { weight: 1, arbitrary: fc.constantFrom("", "{", "[]", "null", '{"a":' + "[".repeat(2000), "\ufeff{}", "{}garbage").map((text) => ({ kind: "edge", bytes: Buffer.from(text) })) },
  ];
  if (corpus.length > 0) sources.push({ weight: 4, arbitrary: fc.constantFrom(...corpus).map((text) => ({ kind: "seed", bytes: Buffer.from(text) })) });
  return fc.tuple(fc.oneof(...sources), mutationArb).map(([body, mutation]) => ({
    kind: mutation.kind === "none" ? body.kind : `${body.kind}+${mutation.kind}`,
    bytes: mutate(body.bytes, mutation),
  }));
}

// ---------------------------------------------------------------------------
// Headers.

/** Header values Node's client accepts: tab, printable ASCII and Latin-1. */
const headerValue = fc.oneof(
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 40 }),
  fc.string({ unit: fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c)), maxLength: 10 }),
  fc.constantFrom("", " ", "0", "-1", "1e999", "NaN", "18446744073709551616", "Bearer", "Bearer ", "gzip", "br, gzip, identity", "\t"),
);

/** One value of up to 8000 characters: large, yet inside Node's 16 KiB header limit. */
const hugeValue = fc.integer({ min: 1000, max: 8000 }).chain((n) => fc.constantFrom("a", "Z", "%", "é").map((c) => c.repeat(n)));

const oddHeaderNames = [
  "connect-protocol-version",
  "connect-timeout-ms",
  "content-encoding",
  "connect-content-encoding",
  "connect-accept-encoding",
  "accept-encoding",
  "grpc-timeout",
  "grpc-encoding",
  "accept",
  "x-di-deviceid",
  "x-di-token",
  "x-di-enroll-secret",
  "authorization",
  "x-hamustro-time",
  "x-hamustro-signature",
  "x-forwarded-for",
  "x-real-ip",
  "user-agent",
  "te",
  "x-fuzz",
] as const;

const oddHeaders = fc.dictionary(fc.constantFrom(...oddHeaderNames), fc.oneof({ weight: 6, arbitrary: headerValue }, { weight: 1, arbitrary: hugeValue }), { maxKeys: 4 });

const contentTypes = [
  "application/json",
  "application/json; charset=utf-8",
  "application/json; charset=utf-16",
  "application/proto",
  "application/protobuf",
  "application/x-protobuf",
  "application/octet-stream",
  "application/connect+json",
  "application/connect+proto",
  "application/grpc",
  "application/grpc+json",
  "application/grpc-web",
  "application/grpc-web+json",
  "application/grpc-web-text",
  "text/plain",
  "multipart/form-data; boundary=x",
  "application/x-www-form-urlencoded",
  "APPLICATION/JSON",
  "application/json;;;",
  "",
] as const;

// ---------------------------------------------------------------------------
// Requests.

function envelope(flags: number, data: Buffer, lengthDelta = 0): Buffer {
  const head = Buffer.alloc(5);
  head[0] = flags;
  head.writeUInt32BE(Math.max(0, data.length + lengthDelta) >>> 0, 1);
  return Buffer.concat([head, data]);
}

const envelopeArb = fc.record({
  flags: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constantFrom(1, 2, 3, 0x80, 0xff) }),
  lengthDelta: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -8, max: 8 }) }, { weight: 1, arbitrary: fc.constant(0x7fffff00) }),
  extra: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }) }),
});

type Protocol = "connect-json" | "connect-proto" | "connect-stream-json" | "connect-stream-proto" | "grpc-web" | "grpc-web-json" | "grpc-h2c" | "connect-get" | "wrong-content-type";

const protocols: readonly Protocol[] = ["connect-json", "connect-proto", "connect-stream-json", "connect-stream-proto", "grpc-web", "grpc-web-json", "grpc-h2c", "connect-get", "wrong-content-type"];

function procedurePath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

function md5(data: Uint8Array): string {
  return createHash("md5").update(data).digest("hex");
}

/** Credentials a request may carry for its target (sometimes right, sometimes wrong, sometimes none). */
function credentialsArb(target: "operator" | "device" | "track" | "heartbeat", context: FuzzContext): fc.Arbitrary<Record<string, string>> {
  switch (target) {
    case "operator":
      return fc.constantFrom<Record<string, string>>({ authorization: `Bearer ${context.adminKey}` }, { authorization: `Bearer ${context.adminKey}` }, {}, { authorization: "Bearer nope" });
    case "device":
      return fc.constantFrom<Record<string, string>>(
        { "x-di-deviceid": context.deviceId, "x-di-token": context.deviceToken },
        { "x-di-deviceid": context.deviceId },
        { "x-di-deviceid": "fuzz-stranger", "x-di-token": "t" },
        {},
      );
    default:
      return fc.constant({});
  }
}

function targetOf(method: DescMethod): "operator" | "device" | "track" | "heartbeat" {
  if (method.parent === AgentService) return "device";
  if (method.parent === TrackService) return "track";
  if (method.parent === HeartbeatService) return "heartbeat";
  return "operator";
}

function connectRequestArb(method: DescMethod, context: FuzzContext): fc.Arbitrary<FuzzRequest> {
  const streaming = method.methodKind === "server_streaming";
  const jsonBodies = bodyArb(method.input, "json");
  const binaryBodies = bodyArb(method.input, "binary");
  const empty: Body = { kind: "none", bytes: Buffer.alloc(0) };
  return fc
    .constantFrom(...protocols)
    .chain((protocol) =>
      fc.tuple(
        fc.constant(protocol),
        /json|get|wrong/.test(protocol) ? jsonBodies : fc.constant(empty),
        /proto|grpc-web$|h2c|get|wrong/.test(protocol) ? binaryBodies : fc.constant(empty),
        envelopeArb,
        credentialsArb(targetOf(method), context),
        oddHeaders,
        fc.constantFrom(...contentTypes),
        fc.boolean(),
        fc.constantFrom("POST", "POST", "POST", "GET", "PUT", "OPTIONS"),
      ),
    )
    .map(([protocol, jsonBody, binaryBody, env, credentials, odd, wrongType, chunked, verb]) => {
      const path = procedurePath(method);
      const headers: Record<string, string> = { ...credentials, ...odd };
      let body: Buffer;
      let bodyKind: string;
      let httpMethod = "POST";
      let query = "";
      let transport: FuzzRequest["transport"] = "http1";
      const enveloped = (data: Body): Buffer => {
        const frame = envelope(env.flags, data.bytes, env.lengthDelta);
        return env.extra ? Buffer.concat([frame, ...Array.from({ length: env.extra }, () => envelope(0, data.bytes))]) : frame;
      };
      switch (protocol) {
        case "connect-json":
          headers["content-type"] = "application/json";
          headers["connect-protocol-version"] ??= "1";
          [body, bodyKind] = [jsonBody.bytes, jsonBody.kind];
          break;
        case "connect-proto":
          headers["content-type"] = "application/proto";
          headers["connect-protocol-version"] ??= "1";
          [body, bodyKind] = [binaryBody.bytes, binaryBody.kind];
          break;
        case "connect-stream-json":
          headers["content-type"] = "application/connect+json";
          [body, bodyKind] = [enveloped(jsonBody), `${jsonBody.kind} env(${env.flags},${env.lengthDelta},${env.extra})`];
          break;
        case "connect-stream-proto":
          headers["content-type"] = "application/connect+proto";
          [body, bodyKind] = [enveloped(binaryBody), `${binaryBody.kind} env(${env.flags},${env.lengthDelta},${env.extra})`];
          break;
        case "grpc-web":
          headers["content-type"] = "application/grpc-web+proto";
          headers["x-grpc-web"] = "1";
          [body, bodyKind] = [enveloped(binaryBody), `${binaryBody.kind} env(${env.flags},${env.lengthDelta},${env.extra})`];
          break;
        case "grpc-web-json":
          headers["content-type"] = "application/grpc-web+json";
          [body, bodyKind] = [enveloped(jsonBody), `${jsonBody.kind} env(${env.flags},${env.lengthDelta},${env.extra})`];
          break;
        case "grpc-h2c":
          transport = "h2c";
          headers["content-type"] = "application/grpc";
          headers.te = "trailers";
          delete headers.connection;
          [body, bodyKind] = [enveloped(binaryBody), `${binaryBody.kind} env(${env.flags},${env.lengthDelta},${env.extra})`];
          break;
        case "connect-get":
          httpMethod = "GET";
          query = `?connect=v1&encoding=${binaryBody.kind.length % 2 ? "proto" : "json"}&message=${encodeURIComponent(jsonBody.bytes.toString("latin1"))}`;
          [body, bodyKind] = [Buffer.alloc(0), jsonBody.kind];
          break;
        case "wrong-content-type":
          httpMethod = verb;
          if (wrongType) headers["content-type"] = wrongType;
          [body, bodyKind] = chunked ? [binaryBody.bytes, binaryBody.kind] : [jsonBody.bytes, jsonBody.kind];
          break;
      }
      return {
        shape: `${path} ${protocol}${protocol === "wrong-content-type" ? ` ${httpMethod} ct=${JSON.stringify(wrongType)}` : ""} body=${bodyKind}`,
        transport,
        method: httpMethod,
        path: path + query,
        headers,
        body,
        chunked: transport === "http1" && httpMethod !== "GET" && chunked,
        streaming,
      };
    });
}

function legacyRequestArb(path: LegacyPath, context: FuzzContext): fc.Arbitrary<FuzzRequest> {
  const schema = legacySchemas[path];
  const target = path === "/api/v1/track" ? "track" : path === "/hb/newHb" ? "heartbeat" : "device";
  const bodies = path === "/api/v1/track" ? fc.oneof(bodyArb(schema, "binary"), bodyArb(schema, "json", legacyCorpus[path])) : bodyArb(schema, "json", legacyCorpus[path]);
  return fc
    .tuple(
      bodies,
      credentialsArb(target, context),
      oddHeaders,
      fc.oneof({ weight: 4, arbitrary: fc.constantFrom("application/json", "application/protobuf", "application/x-protobuf") }, { weight: 1, arbitrary: fc.constantFrom(...contentTypes) }),
      fc.oneof({ weight: 8, arbitrary: fc.constant("POST") }, { weight: 1, arbitrary: fc.constantFrom("GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD") }),
      fc.boolean(),
      fc.boolean(),
      fc.oneof({ weight: 4, arbitrary: fc.constant("") }, { weight: 1, arbitrary: fc.string({ maxLength: 30 }).map((q) => `?${encodeURIComponent(q).replace(/%3D/g, "=").replace(/%26/g, "&")}`) }),
      fc.boolean(),
    )
    .map(([body, credentials, odd, contentType, verb, signed, chunked, query, overLimit]) => {
      const headers: Record<string, string> = { ...credentials, ...odd, "content-type": contentType };
      let bytes = body.bytes;
      let kind = body.kind;
      // Now and then a body just past the limit (413 expected).
      if (overLimit && bytes.length % 7 === 0) {
        bytes = Buffer.concat([bytes, Buffer.alloc(context.maxBodyBytes + 1 - Math.min(bytes.length, context.maxBodyBytes), 0x20)]);
        kind += "+over-limit";
      }
      if (path === "/api/v1/track" && signed) {
        const time = String(Math.floor(Date.now() / 1000));
        headers["x-hamustro-time"] = time;
        headers["x-hamustro-signature"] = createHash("sha256").update(`${time}|${md5(bytes)}|${context.trackSecret}`).digest("base64");
        kind += "+signed";
      }
      return {
        shape: `${path} ${verb} ct=${JSON.stringify(contentType)} body=${kind}`,
        transport: "http1" as const,
        method: verb,
        path: path + query,
        headers,
        body: verb === "GET" || verb === "HEAD" ? Buffer.alloc(0) : bytes,
        chunked: verb !== "GET" && verb !== "HEAD" && chunked,
        streaming: false,
      };
    });
}

/** Paths next to the real ones: unknown, oddly spelled, health and metrics. */
const otherPathArb: fc.Arbitrary<FuzzRequest> = fc
  .tuple(
    fc.constantFrom("/", "/api/health", "/metrics", "/api/v1/track/", "//online", "/ONLINE", "/fleetbeat.operator.v1.KeyService%2FListKeys", "/fleetbeat.operator.v1.KeyService/", "/fleetbeat.nope.v1.X/Y", "/%", "/a/../online", "/api/health?x=%zz"),
    fc.constantFrom("GET", "POST", "HEAD", "DELETE", "OPTIONS"),
    oddHeaders,
    fc.uint8Array({ maxLength: 64 }),
  )
  .map(([path, verb, headers, body]) => ({
    shape: `${path} ${verb}`,
    transport: "http1" as const,
    method: verb,
    path,
    headers,
    body: verb === "GET" || verb === "HEAD" ? Buffer.alloc(0) : Buffer.from(body),
    chunked: false,
    streaming: false,
  }));

/** Requests spread over every legacy path, every method, and the odd paths around them. */
export function requestArb(context: FuzzContext): fc.Arbitrary<FuzzRequest> {
  return fc.oneof(
    { weight: 10, arbitrary: fc.oneof(...legacyPaths.map((path) => legacyRequestArb(path, context))) },
    { weight: 14, arbitrary: fc.oneof(...methods.map((method) => connectRequestArb(method, context))) },
    { weight: 1, arbitrary: otherPathArb },
  );
}

// ---------------------------------------------------------------------------
// Sending and judging.

/** Connect and gRPC error codes and the HTTP status each stands for (connectrpc.com/docs/protocol#error-codes). */
const connectCodeStatus: Record<string, number> = {
  canceled: 499,
  unknown: 500,
  invalid_argument: 400,
  deadline_exceeded: 504,
  not_found: 404,
  already_exists: 409,
  permission_denied: 403,
  resource_exhausted: 429,
  failed_precondition: 400,
  aborted: 409,
  out_of_range: 400,
  unimplemented: 501,
  internal: 500,
  unavailable: 503,
  data_loss: 500,
  unauthenticated: 401,
};
const grpcCodeNames = ["ok", "canceled", "unknown", "invalid_argument", "deadline_exceeded", "not_found", "already_exists", "permission_denied", "resource_exhausted", "failed_precondition", "aborted", "out_of_range", "unimplemented", "internal", "unavailable", "data_loss", "unauthenticated"];

export interface Outcome {
  /** The HTTP status, or for a stream the status its final code stands for; 0 when no answer came. */
  status: number;
  /** What the answer said, briefly ("internal: …", a body excerpt). */
  detail: string;
  /** No answer: reset, closed, or the client gave up (timeout). */
  failure?: "reset" | "timeout";
}

function grpcStatusOf(code: string | undefined): number | undefined {
  if (code === undefined) return undefined;
  const name = grpcCodeNames[Number(code)];
  if (name === undefined) return 500;
  return name === "ok" ? 200 : connectCodeStatus[name];
}

/** For 200 answers of the streaming protocols: the status their final error code stands for. */
function judgeStream(contentType: string, headers: http.IncomingHttpHeaders | http2.IncomingHttpHeaders, body: Buffer, trailers: Record<string, unknown>): Outcome | undefined {
  const grpcHeader = headers["grpc-status"] ?? trailers["grpc-status"];
  if (grpcHeader !== undefined) {
    const status = grpcStatusOf(String(grpcHeader));
    return { status: status ?? 500, detail: `grpc-status ${String(grpcHeader)} ${decodeURIComponent(String(headers["grpc-message"] ?? trailers["grpc-message"] ?? ""))}` };
  }
  if (!contentType.startsWith("application/connect+") && !contentType.startsWith("application/grpc-web")) return undefined;
  // Walk the envelopes to the end-of-stream one (Connect flag 0x02, gRPC-Web trailers 0x80).
  for (let offset = 0; offset + 5 <= body.length; ) {
    const flags = body[offset]!;
    const length = body.readUInt32BE(offset + 1);
    let data = body.subarray(offset + 5, offset + 5 + length);
    offset += 5 + length;
    // A compressed envelope (flag 0x01) in the encoding the answer names (it may follow our accept-encoding).
    const encoding = String(headers["connect-content-encoding"] ?? headers["grpc-encoding"] ?? "identity");
    if (flags & 0x01) {
      try {
        data = encoding === "gzip" ? gunzipSync(data) : encoding === "br" ? brotliDecompressSync(data) : data;
      } catch {
        return { status: 500, detail: `an envelope that does not decompress as ${encoding}` };
      }
    }
    if (contentType.startsWith("application/connect+") && flags & 0x02) {
      try {
        const end = JSON.parse(data.toString("utf8")) as { error?: { code?: string; message?: string } };
        if (!end.error) return { status: 200, detail: "end-stream ok" };
        const code = end.error.code ?? "unknown";
        return { status: connectCodeStatus[code] ?? 500, detail: `${code}: ${end.error.message ?? ""}` };
      } catch {
        return { status: 500, detail: `unparseable end-stream ${data.toString("latin1").slice(0, 80)}` };
      }
    }
    if (contentType.startsWith("application/grpc-web") && flags & 0x80) {
      const match = /grpc-status:\s*(\d+)/i.exec(data.toString("latin1"));
      const message = /grpc-message:\s*([^\r\n]*)/i.exec(data.toString("latin1"))?.[1] ?? "";
      return { status: grpcStatusOf(match?.[1]) ?? 500, detail: `grpc-status ${match?.[1]} ${decodeURIComponent(message)}` };
    }
  }
  return undefined;
}

export interface Sender {
  send(request: FuzzRequest): Promise<Outcome>;
  close(): void;
}

/** How long a streaming call is read before the client stops it (its status came with the headers). */
const STREAM_READ_MS = 150;
/** A unary call (or a stream's headers) must be answered within this. */
const TIMEOUT_MS = 3_000;
const PATIENT_TIMEOUT_MS = 10_000;
/**
 * A server stream (FollowEvents, WaitCommands) may send nothing, not even its
 * headers, until it has something to say: after this it counts as an open
 * stream (status 200), not as a request without an answer.
 */
const STREAM_WAIT_MS = 1_000;
const openStream: Outcome = { status: 200, detail: "stream open, nothing sent yet" };

export function createSender(baseUrl: string, connections: number): Sender {
  const url = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  let session: http2.ClientHttp2Session | undefined;
  const h2 = (): http2.ClientHttp2Session => {
    if (!session || session.closed || session.destroyed) {
      session = http2.connect(baseUrl);
      session.on("error", () => {});
    }
    return session;
  };

  function finish(status: number, contentType: string, headers: http.IncomingHttpHeaders | http2.IncomingHttpHeaders, body: Buffer, trailers: Record<string, unknown>): Outcome {
    if (status === 200) {
      const stream = judgeStream(contentType, headers, body, trailers);
      if (stream) return stream;
    }
    return { status, detail: body.subarray(0, 160).toString("latin1") };
  }

  function sendHttp1(request: FuzzRequest): Promise<Outcome> {
    return new Promise((resolve) => {
      let settled = false;
      const done = (outcome: Outcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(outcome);
      };
      const headers: Record<string, string> = { ...request.headers };
      if (request.chunked) headers["transfer-encoding"] = "chunked";
      else headers["content-length"] = String(request.body.length);
      let req: http.ClientRequest;
      try {
        req = http.request({ host: url.hostname, port: url.port, method: request.method, path: request.path, headers, agent: request.fresh ? false : agent });
      } catch (error) {
        // Node's client refused to send it (a header it will not write): nothing reached the server.
        resolve({ status: -1, detail: String(error) });
        return;
      }
      const timer = setTimeout(() => {
        done(request.streaming ? openStream : { status: 0, detail: "no answer in time", failure: "timeout" });
        req.destroy();
      }, request.streaming ? STREAM_WAIT_MS : request.patient ? PATIENT_TIMEOUT_MS : TIMEOUT_MS);
      req.on("response", (response) => {
        const chunks: Buffer[] = [];
        const contentType = String(response.headers["content-type"] ?? "");
        const end = (): void => done(finish(response.statusCode ?? 0, contentType, response.headers, Buffer.concat(chunks), response.trailers));
        if (request.streaming && response.statusCode === 200) {
          // A stream may run on (FollowEvents): judge what came within a short read.
          setTimeout(() => {
            end();
            req.destroy();
          }, STREAM_READ_MS);
        }
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", end);
        response.on("error", () => end());
        response.on("aborted", () => end());
      });
      req.on("error", (error) => done({ status: 0, detail: String(error), failure: "reset" }));
      // One write for headers and body: a separate small write would sit out Nagle and a delayed ACK (~40 ms).
      req.end(request.body);
    });
  }

  function sendH2c(request: FuzzRequest): Promise<Outcome> {
    return new Promise((resolve) => {
      let settled = false;
      const done = (outcome: Outcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(outcome);
      };
      let stream: http2.ClientHttp2Stream;
      try {
        if (request.fresh) session?.close();
        stream = h2().request({ ":method": request.method, ":path": request.path, ...request.headers });
      } catch (error) {
        // Node's client refused to send it (a header HTTP/2 forbids): nothing reached the server.
        resolve({ status: -1, detail: String(error) });
        return;
      }
      const timer = setTimeout(() => {
        done(request.streaming ? openStream : { status: 0, detail: "no answer in time", failure: "timeout" });
        stream.close(http2.constants.NGHTTP2_CANCEL);
      }, request.streaming ? STREAM_WAIT_MS : request.patient ? PATIENT_TIMEOUT_MS : TIMEOUT_MS);
      let headers: http2.IncomingHttpHeaders = {};
      let trailers: Record<string, unknown> = {};
      const chunks: Buffer[] = [];
      const end = (): void => done(finish(Number(headers[":status"] ?? 0), String(headers["content-type"] ?? ""), headers, Buffer.concat(chunks), trailers));
      stream.on("response", (h) => {
        headers = h;
        if (request.streaming && h[":status"] === 200 && h["grpc-status"] === undefined) {
          setTimeout(() => {
            end();
            stream.close(http2.constants.NGHTTP2_CANCEL);
          }, STREAM_READ_MS);
        }
      });
      stream.on("trailers", (t) => (trailers = t));
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", end);
      stream.on("close", () => (headers[":status"] ? end() : done({ status: 0, detail: `stream closed (${stream.rstCode})`, failure: "reset" })));
      stream.on("error", () => {});
      stream.end(request.body);
    });
  }

  return {
    send: (request) => (request.transport === "h2c" ? sendH2c(request) : sendHttp1(request)),
    close() {
      agent.destroy();
      session?.destroy();
    },
  };
}

export interface Finding {
  request: FuzzRequest;
  outcome: Outcome;
}

export interface FuzzReport {
  requests: number;
  ms: number;
  statuses: Record<string, number>;
  /** Answers with status >= 500 (or a stream code standing for one). */
  serverErrors: Finding[];
  /** No answer at all (reset or timeout). */
  noAnswer: Finding[];
}

/**
 * Sends `count` requests generated from `seed`, `connections` at a time.
 * Requests are drawn in chunks (fast-check's sample with seed + chunk index), so
 * a long run never holds them all in memory and any chunk can be replayed.
 */
export async function runFuzz(options: { baseUrl: string; context: FuzzContext; seed: number; count: number; connections: number; onProgress?: (done: number) => void }): Promise<FuzzReport> {
  const arb = requestArb(options.context);
  const sender = createSender(options.baseUrl, options.connections);
  const report: FuzzReport = { requests: 0, ms: 0, statuses: {}, serverErrors: [], noAnswer: [] };
  const started = Date.now();
  const chunkSize = 1_000;
  try {
    for (let chunk = 0; chunk * chunkSize < options.count; chunk++) {
      const size = Math.min(chunkSize, options.count - chunk * chunkSize);
      const requests = fc.sample(arb, { seed: options.seed + chunk, numRuns: size });
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < requests.length) {
          const request = requests[next++]!;
          let outcome = await sender.send(request);
          // A reset can belong to the connection rather than the request (a keep-alive
          // connection the server closed, an early answer the client did not read):
          // the request gets one more try on a connection of its own.
          if (outcome.failure === "reset") outcome = await sender.send({ ...request, fresh: true });
          // A slow answer on a busy machine is not a hang: a timed-out request gets one
          // more, patient try (a request that hangs the server hangs again).
          if (outcome.failure === "timeout") outcome = await sender.send({ ...request, fresh: true, patient: true });
          report.requests++;
          // deadline_exceeded (504) is the answer a client asked for when it set a deadline itself.
          const clientDeadline = outcome.status === 504 && ("connect-timeout-ms" in request.headers || "grpc-timeout" in request.headers);
          const key =
            outcome.failure ??
            (clientDeadline ? "504 (client's deadline)" : outcome === openStream ? "stream open" : outcome.status === -1 ? "not sent (client refused)" : String(outcome.status));
          report.statuses[key] = (report.statuses[key] ?? 0) + 1;
          if (outcome.failure) report.noAnswer.push({ request, outcome });
          else if (outcome.status >= 500 && !clientDeadline) report.serverErrors.push({ request, outcome });
        }
      };
      await Promise.all(Array.from({ length: options.connections }, worker));
      options.onProgress?.(report.requests);
    }
  } finally {
    sender.close();
  }
  report.ms = Date.now() - started;
  return report;
}

/** What an answer said, without the parts that vary (numbers, field names): "500 internal: parse binary: illegal tag". */
function normalizedDetail(outcome: Outcome): string {
  let text = outcome.detail;
  const json = /"message":"([^"]*)/.exec(text);
  if (json) text = `${/"code":"([^"]*)/.exec(text)?.[1] ?? /"error":"([^"]*)/.exec(text)?.[1] ?? ""}: ${json[1]}`;
  return `${outcome.failure ?? outcome.status} ${text.replace(/\d+/g, "N").replace(/field no N wire type N/, "field …").slice(0, 70)}`;
}

/**
 * Findings grouped by protocol (or legacy method and content type) and what the
 * answer said, each group with the targets it was seen on and its smallest
 * request as a repro.
 */
export function summarize(findings: readonly Finding[], limit = 30): string[] {
  const groups = new Map<string, Finding[]>();
  for (const finding of findings) {
    const [target = "", ...rest] = finding.request.shape.replace(/ body=.*$/, "").split(" ");
    const variant = target.startsWith("/fleetbeat.") ? rest.join(" ") : `legacy ${rest.join(" ")}`;
    const key = `${variant} → ${normalizedDetail(finding.outcome)}`;
    const list = groups.get(key) ?? [];
    list.push(finding);
    groups.set(key, list);
  }
  return [...groups.entries()]
    .sort((a, b) => b[1].length - a[1].length)
    .slice(0, limit)
    .map(([key, list]) => {
      const targets = new Map<string, number>();
      for (const finding of list) {
        const target = finding.request.shape.split(" ")[0]!.replace(/^\/fleetbeat\.(\w+)\.v1\./, "");
        targets.set(target, (targets.get(target) ?? 0) + 1);
      }
      const smallest = list.reduce((a, b) => (b.request.body.length < a.request.body.length ? b : a));
      const r = smallest.request;
      return (
        `${list.length}× ${key}\n    on ${[...targets].map(([t, n]) => `${t} ${n}`).join(", ")}\n` +
        `    smallest: ${r.transport} ${r.method} ${r.path.slice(0, 100)} headers=${JSON.stringify(r.headers).slice(0, 240)} body(${r.body.length} B, ${r.shape.replace(/^.* body=/, "")})=${r.body.subarray(0, 48).toString("hex")}`
      );
    });
}
