// A small JSON reader for the DI dialect (seeds/002). Deployed agents were written
// against the seed's examples, which are not quite JSON:
//   - `{ "devicename": …, "os": "Linux", }`  a trailing comma before `}` or `]`;
//   - `{"result": {{…},{…}}}`                 a list written with braces;
//   - `"id"：111`                             a full-width colon (U+FF1A) in one example.
// Everything valid JSON means the same here. Numbers keep their source text so
// int64 command ids survive beyond 2^53.

export type LenientValue =
  | { kind: "null" }
  | { kind: "bool"; value: boolean }
  | { kind: "number"; text: string }
  | { kind: "string"; value: string }
  | { kind: "array"; items: LenientValue[]; braces: boolean }
  | { kind: "object"; entries: Map<string, LenientValue> };

export class LenientJsonError extends Error {
  override name = "LenientJsonError";
}

const MAX_DEPTH = 32;

export function parseLenientJson(text: string): LenientValue {
  const parser = new Parser(text);
  parser.skipSpace();
  const value = parser.value(0);
  parser.skipSpace();
  if (parser.pos !== text.length) parser.fail("unexpected text after the value");
  return value;
}

class Parser {
  pos = 0;
  constructor(private readonly text: string) {}

  fail(message: string): never {
    throw new LenientJsonError(`${message} at offset ${this.pos}`);
  }

  skipSpace(): void {
    const t = this.text;
    while (this.pos < t.length) {
      const c = t.charCodeAt(this.pos);
      // JSON whitespace plus U+FEFF (a BOM at the start) and U+3000 (ideographic space).
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === 0xfeff || c === 0x3000) this.pos++;
      else break;
    }
  }

  value(depth: number): LenientValue {
    if (depth > MAX_DEPTH) this.fail("nested too deeply");
    const c = this.text[this.pos];
    switch (c) {
      case "{":
        return this.objectOrBraceList(depth);
      case "[":
        return this.array(depth);
      case '"':
        return { kind: "string", value: this.string() };
      case "t":
        return this.literal("true", { kind: "bool", value: true });
      case "f":
        return this.literal("false", { kind: "bool", value: false });
      case "n":
        return this.literal("null", { kind: "null" });
      default:
        if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) return this.number();
        return this.fail(c === undefined ? "unexpected end of input" : `unexpected character ${JSON.stringify(c)}`);
    }
  }

  literal(word: string, value: LenientValue): LenientValue {
    if (!this.text.startsWith(word, this.pos)) this.fail("invalid literal");
    this.pos += word.length;
    return value;
  }

  number(): LenientValue {
    const match = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/.exec(this.text.slice(this.pos, this.pos + 400));
    if (!match) this.fail("invalid number");
    this.pos += match[0].length;
    return { kind: "number", text: match[0] };
  }

  string(): string {
    const t = this.text;
    this.pos++; // opening quote
    let out = "";
    let start = this.pos;
    for (;;) {
      if (this.pos >= t.length) this.fail("unterminated string");
      const c = t.charCodeAt(this.pos);
      if (c === 0x22) {
        out += t.slice(start, this.pos);
        this.pos++;
        return out;
      }
      if (c < 0x20) this.fail("control character in string");
      if (c !== 0x5c) {
        this.pos++;
        continue;
      }
      out += t.slice(start, this.pos);
      const e = t[this.pos + 1];
      this.pos += 2;
      switch (e) {
        case '"': out += '"'; break;
        case "\\": out += "\\"; break;
        case "/": out += "/"; break;
        case "b": out += "\b"; break;
        case "f": out += "\f"; break;
        case "n": out += "\n"; break;
        case "r": out += "\r"; break;
        case "t": out += "\t"; break;
        case "u": {
          const hex = t.slice(this.pos, this.pos + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail("invalid \\u escape");
          out += String.fromCharCode(parseInt(hex, 16));
          this.pos += 4;
          break;
        }
        default:
          this.fail("invalid escape");
      }
      start = this.pos;
    }
  }

  /** After a value inside a container: `,` (possibly trailing) or the closer. Returns true when closed. */
  separatorOrClose(close: string): boolean {
    this.skipSpace();
    const c = this.text[this.pos];
    if (c === close) {
      this.pos++;
      return true;
    }
    if (c !== ",") this.fail(`expected ',' or '${close}'`);
    this.pos++;
    this.skipSpace();
    if (this.text[this.pos] === close) {
      this.pos++; // trailing comma
      return true;
    }
    return false;
  }

  array(depth: number): LenientValue {
    this.pos++;
    this.skipSpace();
    const items: LenientValue[] = [];
    if (this.text[this.pos] === "]") {
      this.pos++;
      return { kind: "array", items, braces: false };
    }
    for (;;) {
      items.push(this.value(depth + 1));
      if (this.separatorOrClose("]")) return { kind: "array", items, braces: false };
    }
  }

  objectOrBraceList(depth: number): LenientValue {
    this.pos++;
    this.skipSpace();
    const first = this.text[this.pos];
    if (first === "{" || first === "[") {
      // The seed's `{{…},{…}}`: a list written with braces.
      const items: LenientValue[] = [];
      for (;;) {
        items.push(this.value(depth + 1));
        if (this.separatorOrClose("}")) return { kind: "array", items, braces: true };
      }
    }
    const entries = new Map<string, LenientValue>();
    if (first === "}") {
      this.pos++;
      return { kind: "object", entries };
    }
    for (;;) {
      if (this.text[this.pos] !== '"') this.fail("expected a quoted key");
      const key = this.string();
      this.skipSpace();
      const colon = this.text[this.pos];
      if (colon !== ":" && colon !== "\uff1a") this.fail("expected ':'");
      this.pos++;
      this.skipSpace();
      const value = this.value(depth + 1);
      if (entries.has(key)) this.fail(`duplicate key ${JSON.stringify(key)}`);
      entries.set(key, value);
      if (this.separatorOrClose("}")) return { kind: "object", entries };
      if (this.text[this.pos] !== '"') this.fail("expected a quoted key");
    }
  }
}
