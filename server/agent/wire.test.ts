import { readFileSync } from "node:fs";
import { toJson } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { HeartbeatRequestSchema, OnlineRequestSchema, UpdateRequestSchema } from "../../gen/fleetbeat/agent/v1/agent_pb.js";
import { FleetbeatError } from "../core/errors.js";
import { decodeHeartbeatRequest, decodeOnlineRequest, decodeUpdateRequest, encodeAgentAnswer } from "./wire.js";

const fixture = (name: string) => new Uint8Array(readFileSync(new URL(`./fixtures/${name}`, import.meta.url)));
const text = (s: string) => new TextEncoder().encode(s);

const seedDevice = { devicename: "EndPoint1", ip: "127.0.0.1", macaddress: "00:0c:29:59:ab:c6", os: "Linux" };

function errorName(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof FleetbeatError) return error.errorName;
    throw error;
  }
  throw new Error("no error thrown");
}

describe("golden requests (the seed's examples as written)", () => {
  it("register: the seed's body, trailing comma and all", () => {
    expect(toJson(OnlineRequestSchema, decodeOnlineRequest(fixture("online.seed.request.json")))).toEqual(seedDevice);
    expect(toJson(OnlineRequestSchema, decodeOnlineRequest(fixture("online.json.request.json")))).toEqual(seedDevice);
  });
  it("update: the seed's body", () => {
    expect(toJson(UpdateRequestSchema, decodeUpdateRequest(fixture("update.seed.request.json")))).toEqual(seedDevice);
  });
  const heartbeats: Array<[string, unknown]> = [
    ["heartbeat.seed-empty.request.json", {}],
    ["heartbeat.empty-array.request.json", {}],
    ["heartbeat.seed-one-result.request.json", { result: [{ id: "111", return: 1, reason: "ok" }] }],
    ["heartbeat.seed-brace-list.request.json", { result: [{ id: "111", reason: "ok" }, { id: "112", return: 1, reason: "command failed" }] }],
    ["heartbeat.array.request.json", { result: [{ id: "111", reason: "ok" }, { id: "112", return: 1, reason: "command failed" }] }],
    ["heartbeat.single-object.request.json", { result: [{ id: "111", reason: "ok" }] }],
    ["heartbeat.object-of-results.request.json", { result: [{ id: "111", reason: "ok" }, { id: "9223372036854775807", return: 1, reason: "磁盘已满" }] }],
  ];
  it.each(heartbeats)("heartbeat: %s", (name, expected) => {
    expect(toJson(HeartbeatRequestSchema, decodeHeartbeatRequest(fixture(name)))).toEqual(expected);
  });
});

describe("golden responses (byte for byte)", () => {
  it("no command → \"command\":{}", () => {
    const bytes = encodeAgentAnswer({ token: "xxxxxx", command: [], intervalSeconds: 60, jitterSeconds: 10 });
    expect(Buffer.from(bytes).equals(fixture("response.no-command.json"))).toBe(true);
  });
  it("the seed's command", () => {
    const bytes = encodeAgentAnswer({ token: "xxxxxx", command: [{ id: 111n, type: 1, content: "xxx" }], intervalSeconds: 60, jitterSeconds: 10 });
    expect(Buffer.from(bytes).equals(fixture("response.seed-command.json"))).toBe(true);
  });
  it("ids beyond 2^53 stay exact numbers; content is escaped JSON text", () => {
    const bytes = encodeAgentAnswer({
      token: "xxxxxx",
      command: [
        { id: 111n, type: 1, content: '{"whitelist":["/usr/bin"]}' },
        { id: 9223372036854775807n, type: 2, content: "停止" },
      ],
      intervalSeconds: 60,
      jitterSeconds: 10,
    });
    expect(Buffer.from(bytes).toString("utf8")).toBe(Buffer.from(fixture("response.two-commands.json")).toString("utf8"));
    expect(Buffer.from(bytes).equals(fixture("response.two-commands.json"))).toBe(true);
  });
});

describe("malformed bodies are 400s, never crashes", () => {
  it.each([
    ["not json", "MALFORMED_BODY"],
    ["[1,2]", "MALFORMED_BODY"],
    ['{"devicename": 5}', "MALFORMED_BODY"],
    ['{"devicename": "a"', "MALFORMED_BODY"],
    ['{"devicename": "a",,}', "MALFORMED_BODY"],
    ['{"a":1,"a":2}', "MALFORMED_BODY"],
    ["", "MALFORMED_BODY"],
  ])("online %j → %s", (body, name) => {
    expect(errorName(() => decodeOnlineRequest(text(body)))).toBe(name);
  });
  it.each([
    ['{"result": 5}', "MALFORMED_BODY"],
    ['{"result": [{"return": 0}]}', "MISSING_FIELD"],
    ['{"result": [{"id": 1}]}', "MISSING_FIELD"],
    ['{"result": [{"id": 1.5, "return": 0}]}', "MALFORMED_BODY"],
    ['{"result": [{"id": 9223372036854775808, "return": 0}]}', "MALFORMED_BODY"],
    ['{"result": [{"id": 1, "return": 4294967296}]}', "MALFORMED_BODY"],
    ['{"result": [{"id": 1, "return": 0, "reason": 7}]}', "MALFORMED_BODY"],
    ['{"result": [3]}', "MALFORMED_BODY"],
    ['{"result": {{"id":1,"return":0},{...}...{...}}}', "MALFORMED_BODY"],
  ])("heartbeat %j → %s", (body, name) => {
    expect(errorName(() => decodeHeartbeatRequest(text(body)))).toBe(name);
  });
  it("invalid UTF-8 is a 400", () => {
    expect(errorName(() => decodeOnlineRequest(new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])))).toBe("MALFORMED_BODY");
  });
  it("deep nesting is refused, not a stack overflow", () => {
    expect(errorName(() => decodeHeartbeatRequest(text('{"x":' + "[".repeat(10000) + "]".repeat(10000) + "}")))).toBe("MALFORMED_BODY");
  });
  it("an empty heartbeat body means no results; ids may come as strings", () => {
    expect(decodeHeartbeatRequest(text("")).result).toEqual([]);
    expect(decodeHeartbeatRequest(text('{"result":[{"id":"42","return":"1"}]}')).result[0]?.id).toBe(42n);
  });
});
