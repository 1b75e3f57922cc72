import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { truncateChars } from "./agent.js";
import { heartbeatBody, parseAnswerJson, readAnswer } from "./legacy.js";
import { readState, writeState } from "./state.js";

describe("answers", () => {
  it('reads "command":{} as no command and keeps int64 ids exact', () => {
    expect(readAnswer('{"token":"xxxxxx","command":{},"interval":60,"jitter":10}')).toEqual({ token: "xxxxxx", command: [], interval: 60, jitter: 10 });
    const answer = readAnswer('{"token":"t","command":[{"id":9223372036854775807,"type":2,"content":"{\\"id\\":5}"}]}');
    expect(answer.command).toEqual([{ id: "9223372036854775807", type: 2, content: '{"id":5}' }]);
    expect(answer.interval).toBe(0);
  });
  it("only rewrites id keys, not text that looks like them", () => {
    expect(parseAnswerJson('{"a":"\\"id\\":12345678901234567890","id":12345678901234567890}')).toEqual({ a: '"id":12345678901234567890', id: "12345678901234567890" });
  });
  it("heartbeat bodies carry ids as numbers", () => {
    expect(heartbeatBody([])).toBe('{"result":[]}');
    expect(heartbeatBody([{ id: "9223372036854775807", returnCode: 1, reason: "磁盘\"满" }])).toBe('{"result":[{"id":9223372036854775807,"return":1,"reason":"磁盘\\"满"}]}');
  });
  it("truncates by code points", () => {
    expect(truncateChars("😀😀😀", 2)).toBe("😀😀");
  });
});

describe("config file", () => {
  it("is written atomically and read back; no temp files stay", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "agent-state-"));
    const file = path.join(dir, "agent.json");
    expect(await readState(file)).toBeUndefined();
    await writeState(file, { server: "http://x", deviceId: "d", token: "t1", executed: [{ id: "1", returnCode: 0, reason: "ok" }], unreported: ["1"] });
    await writeState(file, { server: "http://x", deviceId: "d", token: "t2", executed: [], unreported: [] });
    expect((await readState(file))?.token).toBe("t2");
    expect(readdirSync(dir)).toEqual(["agent.json"]);
    expect(JSON.parse(readFileSync(file, "utf8")).deviceId).toBe("d");
  });
});
