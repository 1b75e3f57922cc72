import { expect, it } from "vitest";
import { JsonSyntaxError, parseJsonQuietly } from "./json.js";

it("parses valid JSON", () => {
  expect(parseJsonQuietly('{"a": [1, "x"]}')).toEqual({ a: [1, "x"] });
});

it.each([
  ['{"secret": supersecret-value}', "not valid JSON"],
  ['{"secret": "supersecret-value"', "not valid JSON (line 1, column 31)"],
  ['{\n  "secret": "supersecret-value",\n}', "not valid JSON (line 3, column 1)"],
])("a syntax error names where, never the text: %s", (text, message) => {
  let thrown: unknown;
  try {
    parseJsonQuietly(text);
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(JsonSyntaxError);
  expect((thrown as Error).message).toBe(message);
  expect((thrown as Error).message).not.toContain("supersecre");
});
