import { describe, expect, it } from "vitest";
import type { StoredTrackEvent } from "../store/track.js";
import { csvLine, formatAt, ndjsonLine } from "./event-export.js";

const row: StoredTrackEvent = {
  id: 7,
  session: "244f056dee6d475ec673ea0d20b69bab",
  deviceId: "a73b1c37-2c24-4786-af7a-16de88fbe23a",
  clientId: "bce44f67b2661fd445d469b525b04f68",
  systemVersion: "10.10",
  productVersion: "1.1.2",
  system: "OSX",
  productGitHash: null,
  at: 1454514088,
  event: "Client.CreateUser",
  nr: 0,
  userId: null,
  ip: "203.0.113.0",
  parameters: '{"a":"x\ny"}',
  isTesting: false,
  receivedAt: Date.UTC(2026, 10, 24, 12, 0, 0, 5),
};

describe("event export formats", () => {
  it("formats at as UTC YYYY-MM-DD HH:MM:SS, far dates included", () => {
    expect(formatAt(1454514088)).toBe("2016-02-03 15:41:28");
    expect(formatAt(0)).toBe("1970-01-01 00:00:00");
    expect(formatAt(951_782_400)).toBe("2000-02-29 00:00:00");
    expect(formatAt(253_402_300_799)).toBe("9999-12-31 23:59:59");
    for (const s of [1, 86_399, 86_400, 1_700_000_000, 4_102_444_800]) {
      expect(formatAt(s)).toBe(new Date(s * 1000).toISOString().slice(0, 19).replace("T", " "));
    }
    expect(formatAt(2 ** 53 - 1)).toMatch(/^\d{4,}-\d\d-\d\d \d\d:\d\d:\d\d$/);
  });

  it("writes the collector's CSV line byte for byte", () => {
    expect(Buffer.from(csvLine(row))).toEqual(
      Buffer.from(
        "a73b1c37-2c24-4786-af7a-16de88fbe23a\x01bce44f67b2661fd445d469b525b04f68\x01244f056dee6d475ec673ea0d20b69bab\x0110.10\x011.1.2\x01OSX\x01\x01" +
          '2016-02-03 15:41:28\x01Client.CreateUser\x010\x01\x01203.0.113.0\x01{"a":"x y"}\x01false\n',
      ),
    );
    expect(csvLine({ ...row, userId: 42, isTesting: true, productGitHash: "abc\x01def" }).split("\x01")).toHaveLength(14);
  });

  it("writes one canonical proto JSON object per NDJSON line", () => {
    const line = ndjsonLine({ ...row, userId: 0 });
    expect(line.endsWith("\n")).toBe(true);
    expect(JSON.parse(line)).toEqual({
      deviceId: row.deviceId,
      clientId: row.clientId,
      session: row.session,
      systemVersion: "10.10",
      productVersion: "1.1.2",
      system: "OSX",
      at: "1454514088",
      event: "Client.CreateUser",
      userId: 0,
      ip: "203.0.113.0",
      parameters: row.parameters,
      receivedAt: "2026-11-24T12:00:00.005Z",
    });
  });
});
