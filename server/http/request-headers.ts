// A request's headers as the fetch `Headers` a HandlerContext carries, read
// straight from Node's parsed header object instead of copied into a new
// Headers per request (which validated and stored every header again: a few
// microseconds of each legacy call, and most calls read two or three names).
import type { IncomingHttpHeaders } from "node:http";
import type { IncomingHttpHeaders as Http2IncomingHttpHeaders } from "node:http2";

type NodeHeaders = IncomingHttpHeaders | Http2IncomingHttpHeaders;

/**
 * Read-only: like the headers of a fetch Request received by a server, writes
 * throw. Node has lower-cased the names, joined repeated fields with ", " (or
 * kept the first, for fields that may appear once) and trimmed the values;
 * HTTP/2 pseudo-headers (":path", …) are not request headers. forEach and
 * getSetCookie build a real Headers once (sorted names, as fetch iterates).
 */
export class RequestHeaders implements Headers {
  private copy: Headers | undefined;

  constructor(private readonly node: NodeHeaders) {}

  get(name: string): string | null {
    const key = name.toLowerCase();
    if (key.startsWith(":")) return null;
    const value = this.node[key];
    if (value === undefined) return null;
    return Array.isArray(value) ? value.join(", ") : value;
  }

  has(name: string): boolean {
    return this.get(name) !== null;
  }

  getSetCookie(): string[] {
    return this.full().getSetCookie();
  }

  forEach(callback: (value: string, key: string, parent: Headers) => void, thisArg?: unknown): void {
    this.full().forEach((value, key) => callback.call(thisArg, value, key, this));
  }

  append(): void {
    throw new TypeError("the request's headers are read-only");
  }

  set(): void {
    throw new TypeError("the request's headers are read-only");
  }

  delete(): void {
    throw new TypeError("the request's headers are read-only");
  }

  private full(): Headers {
    if (this.copy) return this.copy;
    const headers = new Headers();
    for (const [name, value] of Object.entries(this.node)) {
      if (name.startsWith(":") || value === undefined) continue;
      if (Array.isArray(value)) for (const item of value) headers.append(name, item);
      else headers.append(name, value);
    }
    return (this.copy = headers);
  }
}
