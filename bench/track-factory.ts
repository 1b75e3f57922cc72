// Requests for the tracking benchmark: signed protobuf Collections of 13 events
// each, from `devices` devices in turn, every (session, nr) new so each 200 means
// 13 newly committed rows. Collections are encoded by hand (the header bytes once
// per device, the payloads per request) so the load process spends its CPU on
// sending rather than on encoding; track-factory.test.ts checks the bytes against
// protobuf-es.
import { createHash } from "node:crypto";
import type { BenchRequest } from "./lib/http-client.js";
import type { RequestFactory } from "./lib/loadgen.js";

export interface TrackFactoryArgs {
  devices: number;
  eventsPerCollection: number;
  secret: string;
  /** Mixed into the device ids so separate runs on one database do not collide. */
  seed: string;
  /** Epoch seconds stamped as `at` (the load process's clock when omitted). */
  at?: number;
}

const md5Hex = (data: Uint8Array | string): string => createHash("md5").update(data).digest("hex");

function varint(value: number, out: number[]): void {
  while (value > 0x7f) {
    out.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
}

function stringField(field: number, text: string, out: number[]): void {
  const bytes = Buffer.from(text, "utf8");
  out.push((field << 3) | 2);
  varint(bytes.length, out);
  for (const byte of bytes) out.push(byte);
}

const EVENTS = ["app.open", "screen.view", "button.tap", "purchase.start", "purchase.done", "app.background"];

/** One Payload message's bytes (field 1 at, 2 event, 3 nr, 4 user_id, 6 parameters, 7 is_testing). */
function payloadBytes(at: number, event: string, nr: number, userId: number, parameters: string): number[] {
  const out: number[] = [0x08];
  varint(at, out);
  stringField(2, event, out);
  out.push(0x18);
  varint(nr, out);
  out.push(0x20);
  varint(userId, out);
  stringField(6, parameters, out);
  out.push(0x38, 0);
  return out;
}

export interface DeviceHeader {
  session: string;
  bytes: number[];
}

/** The Collection's fields 1–7 for one device, and its session. */
export function deviceHeader(seed: string, device: number): DeviceHeader {
  const deviceId = createHash("sha256").update(`${seed}-device-${device}`).digest("hex");
  const clientId = "bench-app";
  const systemVersion = `14.${device % 4}`;
  const productVersion = "3.2.1";
  const session = md5Hex(`${deviceId}:${clientId}:${systemVersion}:${productVersion}`);
  const out: number[] = [];
  stringField(1, deviceId, out);
  stringField(2, clientId, out);
  stringField(3, session, out);
  stringField(4, systemVersion, out);
  stringField(5, productVersion, out);
  stringField(6, "iOS", out);
  stringField(7, "0a1b2c3d", out);
  return { session, bytes: out };
}

/** The Collection bytes of request `index`: device index % devices, nrs continuing per device. */
export function collectionBytes(header: DeviceHeader, round: number, args: TrackFactoryArgs, at: number): Buffer {
  const out = header.bytes.slice();
  for (let k = 0; k < args.eventsPerCollection; k++) {
    const nr = round * args.eventsPerCollection + k + 1;
    const payload = payloadBytes(at, EVENTS[nr % EVENTS.length]!, nr, 1000 + (nr % 97), `{"screen":"home","nr":${nr}}`);
    out.push(0x42);
    varint(payload.length, out);
    for (const byte of payload) out.push(byte);
  }
  return Buffer.from(out);
}

export function signedRequest(body: Buffer, secret: string, time: string): BenchRequest {
  const signature = createHash("sha256").update(`${time}|${md5Hex(body)}|${secret}`).digest("base64");
  return {
    method: "POST",
    path: "/api/v1/track",
    headers: { "Content-Type": "application/protobuf", "X-Hamustro-Time": time, "X-Hamustro-Signature": signature },
    body,
  };
}

export function createRequestFactory(args: TrackFactoryArgs): RequestFactory {
  const headers = Array.from({ length: args.devices }, (_, device) => deviceHeader(args.seed, device));
  return (index) => {
    const at = args.at ?? Math.floor(Date.now() / 1000);
    const body = collectionBytes(headers[index % args.devices]!, Math.floor(index / args.devices), args, at);
    return signedRequest(body, args.secret, String(at));
  };
}
