// The CLI's pure helpers: tables, times, durations, sizes, the progress line,
// and where the server and key come from.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { afterAll, describe, expect, it } from "vitest";
import { ConnectionSettingsError, defaultConfigPath, resolveConnection } from "./connection.js";
import { formatAgo, formatBytes, formatTime, renderFields, renderTable } from "./format.js";
import { ProgressBar } from "./progress.js";
import stringWidth from "string-width";

describe("renderTable", () => {
  it("pads columns to their widest cell, right-aligns numbers, and neutralises control characters", () => {
    const rows = [
      { name: "alpha", n: 7 },
      { name: "b\u001b[31mred\nline", n: 1234 },
    ];
    const text = renderTable(rows, [
      { header: "NAME", value: (r) => r.name },
      { header: "N", value: (r) => String(r.n), right: true },
    ]);
    expect(text).toBe(`NAME${" ".repeat(15)}N\nalpha${" ".repeat(14)}7\nb·[31mred·line  1234\n`);
  });

  it("aligns by display width: CJK names take two columns per character, combining marks none", () => {
    const rows = [
      { name: "東京の端末", os: "linux" },
      { name: "plain", os: "macOS" },
      { name: "e\u0301cole", os: "win" },
    ];
    const text = renderTable(rows, [
      { header: "NAME", value: (r) => r.name },
      { header: "OS", value: (r) => r.os },
    ]);
    expect(text).toBe(`NAME${" ".repeat(8)}OS\n東京の端末  linux\nplain${" ".repeat(7)}macOS\ne\u0301cole${" ".repeat(7)}win\n`);
    // Every OS column starts at the same terminal column.
    const starts = text.trimEnd().split("\n").map((line) => stringWidth(line.slice(0, line.search(/\S+$/))));
    expect(new Set(starts).size).toBe(1);
  });

  it("prints the header alone for no rows", () => {
    expect(renderTable([], [{ header: "A", value: () => "" }, { header: "B", value: () => "" }])).toBe("A  B\n");
  });

  it("renders key-value fields aligned", () => {
    expect(renderFields([["a", "1"], ["longer", "2"]])).toBe("a:       1\nlonger:  2\n");
  });
});

describe("times, durations and sizes", () => {
  it("formats timestamps as ISO seconds and relative ages", () => {
    const t = timestampFromMs(Date.UTC(2026, 0, 31, 12, 0, 5, 250));
    expect(formatTime(t)).toBe("2026-01-31T12:00:05Z");
    expect(formatTime(undefined)).toBe("-");
    const now = Date.UTC(2026, 0, 31, 12, 0, 5, 250);
    expect(formatAgo(timestampFromMs(now - 42_000), now)).toBe("42s ago");
    expect(formatAgo(timestampFromMs(now - 3 * 3_600_000), now)).toBe("3h ago");
    expect(formatAgo(timestampFromMs(now - 2 * 86_400_000), now)).toBe("2d ago");
  });


  it("formats byte counts", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1536)).toBe("1.50 KiB");
    expect(formatBytes(389_242_675)).toBe("371.2 MiB");
    expect(formatBytes(5n * 1024n ** 3n)).toBe("5.00 GiB");
  });
});

describe("ProgressBar", () => {
  it("draws nothing unless the stream is a terminal", () => {
    let written = "";
    const bar = new ProgressBar({ write: (text: string) => (written += text) }, { total: 10 });
    bar.update({ events: 5, bytes: 100 }, true);
    bar.finish();
    expect(bar.enabled).toBe(false);
    expect(written).toBe("");
  });

  it("shows percentage, counts, size and rate; redraws in place and clears the line at the end", () => {
    let clock = 0;
    let written = "";
    const bar = new ProgressBar({ write: (text: string) => (written += text), isTTY: true, columns: 100 }, { total: 1000, now: () => clock, intervalMs: 100 });
    clock = 2000;
    bar.update({ events: 500, bytes: 2048 });
    expect(written).toMatch(/^\rexporting \[#{10,}-{10,}\]  50% 500\/1,000 events  2\.00 KiB  250 ev\/s\u001b\[K$/);
    const before = written;
    clock = 2050;
    bar.update({ events: 600, bytes: 4096 });
    expect(written).toBe(before);
    bar.update({ events: 1000, bytes: 8192 }, true);
    expect(written).toMatch(/ 100% 1,000\/1,000 events/);
    bar.finish();
    expect(written.endsWith("\r\u001b[K")).toBe(true);
  });

  it("without a total shows counts and rate only", () => {
    const bar = new ProgressBar({ write: () => {}, isTTY: true }, { now: () => 1000 });
    expect(bar.line({ events: 12_345, bytes: 10 }, 2000)).toBe("exporting 12,345 events  10 B  12,345 ev/s");
  });
});

describe("resolveConnection", () => {
  const dir = mkdtempSync(join(tmpdir(), "fleetbeat-conn-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "cli.json");
  writeFileSync(file, JSON.stringify({ server: "https://file.example.com/", key: "fbk_file" }));

  it("takes the flag, then the environment, then the config file, then the default server", () => {
    const env = { FLEETBEAT_SERVER: "http://env.example.com:6011", FLEETBEAT_KEY: "fbk_env", FLEETBEAT_CONFIG: file };
    expect(resolveConnection({ server: "http://flag:1", key: "fbk_flag" }, { env })).toMatchObject({
      server: "http://flag:1",
      key: "fbk_flag",
      sources: { server: "flag", key: "flag" },
    });
    expect(resolveConnection({}, { env })).toMatchObject({ server: "http://env.example.com:6011", key: "fbk_env", sources: { server: "env", key: "env" } });
    expect(resolveConnection({}, { env: { FLEETBEAT_CONFIG: file } })).toMatchObject({
      server: "https://file.example.com",
      key: "fbk_file",
      sources: { server: "config", key: "config" },
      configFile: file,
    });
    expect(resolveConnection({}, { env: {}, home: dir })).toMatchObject({ server: "http://127.0.0.1:6011", key: undefined, sources: { server: "default" } });
  });

  it("finds the default file under XDG_CONFIG_HOME or ~/.config", () => {
    mkdirSync(join(dir, "xdg", "fleetbeat"), { recursive: true });
    writeFileSync(join(dir, "xdg", "fleetbeat", "cli.json"), JSON.stringify({ key: "fbk_xdg" }));
    expect(defaultConfigPath({}, "/home/u")).toBe("/home/u/.config/fleetbeat/cli.json");
    expect(resolveConnection({}, { env: { XDG_CONFIG_HOME: join(dir, "xdg") } }).key).toBe("fbk_xdg");
  });

  it("refuses a missing named file, bad JSON, wrong types and non-HTTP URLs", () => {
    expect(() => resolveConnection({ config: join(dir, "absent.json") }, { env: {} })).toThrow(ConnectionSettingsError);
    writeFileSync(join(dir, "bad.json"), "[1]");
    expect(() => resolveConnection({ config: join(dir, "bad.json") }, { env: {} })).toThrow(/JSON object/);
    writeFileSync(join(dir, "types.json"), '{"server": 6011}');
    expect(() => resolveConnection({ config: join(dir, "types.json") }, { env: {} })).toThrow(/must be a string/);
    expect(() => resolveConnection({ server: "ftp://x" }, { env: {}, home: dir })).toThrow(/http:\/\/ or https:\/\//);
    expect(() => resolveConnection({ server: "http://x/?a=1" }, { env: {}, home: dir })).toThrow(/query/);
    expect(() => resolveConnection({ key: "two words" }, { env: {}, home: dir })).toThrow(/white space/);
  });
});
