// JSON.parse for text that may hold secrets: V8's syntax errors quote the text
// around the mistake (`Unexpected token 's', ...""secret": supersecre"... is not
// valid JSON`), so the error this throws names only where the mistake is.

export class JsonSyntaxError extends Error {
  override readonly name = "JsonSyntaxError";
}

/** Parses `text`; on a syntax error throws JsonSyntaxError("not valid JSON (line L, column C)") quoting nothing of the text. */
export function parseJsonQuietly(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    const position = /\bposition (\d+)/.exec((error as Error).message)?.[1];
    if (position === undefined) throw new JsonSyntaxError("not valid JSON");
    const before = text.slice(0, Number(position)).split("\n");
    throw new JsonSyntaxError(`not valid JSON (line ${before.length}, column ${(before[before.length - 1]?.length ?? 0) + 1})`);
  }
}
