// StatementNames: which statements the write connections prepare, and that the count stays bounded.
import { describe, expect, it } from "vitest";
import { StatementNames, type StatementConfig } from "./statements.js";

const config = (text: string, name?: string): StatementConfig => (name === undefined ? { text } : { text, name });

describe("StatementNames", () => {
  it("names a text with parameters from its second sighting on, always with the same name", () => {
    const names = new StatementNames("t", 10);
    const first = config("SELECT $1::int");
    expect(names.name(first, [1])).toBe(first);
    const second = names.name(first, [2]);
    expect(second).toEqual({ text: "SELECT $1::int", name: "t0" });
    expect(first).toEqual({ text: "SELECT $1::int" });
    expect(names.name(config("SELECT $1::int"), [3]).name).toBe("t0");
    expect(names.size).toBe(1);
  });

  it("gives distinct texts distinct names", () => {
    const names = new StatementNames("t", 10);
    for (const text of ["SELECT $1", "SELECT $1, $2", "SELECT $1"]) names.name(config(text), [1]);
    names.name(config("SELECT $1, $2"), [1, 2]);
    expect(names.name(config("SELECT $1"), [1]).name).toBe("t0");
    expect(names.name(config("SELECT $1, $2"), [1, 2]).name).toBe("t1");
  });

  it("leaves statements without parameters and statements named by the caller alone", () => {
    const names = new StatementNames("t", 10);
    for (let i = 0; i < 3; i++) {
      expect(names.name(config("begin"), undefined).name).toBeUndefined();
      expect(names.name(config("commit"), []).name).toBeUndefined();
      expect(names.name(config("SELECT $1", "mine"), [1]).name).toBe("mine");
    }
    expect(names.size).toBe(0);
  });

  it("names at most `limit` texts; those named before keep their names", () => {
    const names = new StatementNames("t", 2);
    for (const text of ["A $1", "B $1", "C $1"]) {
      names.name(config(text), [1]);
      names.name(config(text), [1]);
    }
    expect(names.size).toBe(2);
    expect(names.name(config("A $1"), [1]).name).toBe("t0");
    expect(names.name(config("B $1"), [1]).name).toBe("t1");
    expect(names.name(config("C $1"), [1]).name).toBeUndefined();
  });
});
