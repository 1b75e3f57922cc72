// A request body accumulated into one buffer bounded by the body limit. The
// chunks a socket delivers are copied in and dropped at once, so a body
// trickled in 1-byte segments costs about its own size, not one Buffer object
// (and its share of a read buffer) per segment.
const initialCapacity = 4096;

export class BodyBuffer {
  private buffer: Buffer;
  private size = 0;

  /**
   * @param limit most bytes accepted
   * @param expected the declared length (Content-Length), at most `limit`: the
   *   buffer is allocated at that size once; unknown, it starts small and doubles
   *   as bytes arrive, never beyond `limit`.
   */
  constructor(
    readonly limit: number,
    expected?: number,
  ) {
    this.buffer = Buffer.allocUnsafe(expected ?? Math.min(limit, initialCapacity));
  }

  /** Bytes held so far. */
  get length(): number {
    return this.size;
  }

  /** Bytes allocated. */
  get capacity(): number {
    return this.buffer.byteLength;
  }

  /** Copies `chunk` in; false (and nothing copied) when it would pass the limit. */
  append(chunk: Uint8Array): boolean {
    const needed = this.size + chunk.byteLength;
    if (needed > this.limit) return false;
    if (needed > this.buffer.byteLength) {
      const grown = Buffer.allocUnsafe(Math.min(this.limit, Math.max(needed, this.buffer.byteLength * 2)));
      this.buffer.copy(grown, 0, 0, this.size);
      this.buffer = grown;
    }
    this.buffer.set(chunk, this.size);
    this.size = needed;
    return true;
  }

  /** The body: a view of the held bytes (no copy). */
  bytes(): Uint8Array {
    return this.buffer.subarray(0, this.size);
  }
}
