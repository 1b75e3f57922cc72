// Error logging folded per distinct error: the first occurrence in an interval
// is logged in full (stack included), later ones with the same key only
// counted, and one line with the count follows when the interval ends. During
// an outage every failing request fails the same way; this keeps that to a
// couple of lines per interval instead of a stack per request.
import type { Logger } from "pino";

/** What the server's parts log their faults through. */
export interface ErrorLog {
  /**
   * Logs `error` at error level, folded with earlier errors of the same kind
   * (its class, code and message) and the same `message`.
   */
  error(error: unknown, fields: Readonly<Record<string, unknown>>, message: string): void;
}

export interface FoldingErrorLogOptions {
  /** Length of a folding interval (ms). */
  readonly intervalMs?: number;
  /** Most distinct errors tracked at once; beyond it, new kinds are logged unfolded. */
  readonly maxKinds?: number;
  /** Epoch milliseconds (tests move time). */
  readonly now?: () => number;
}

interface Kind {
  /** When the interval opened by the last full line began. */
  since: number;
  /** Occurrences since then not logged in full. */
  repeated: number;
  readonly fields: Readonly<Record<string, unknown>>;
  readonly message: string;
  readonly errorText: string;
}

export class FoldingErrorLog implements ErrorLog {
  private readonly intervalMs: number;
  private readonly maxKinds: number;
  private readonly now: () => number;
  private readonly kinds = new Map<string, Kind>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly logger: Logger,
    options: FoldingErrorLogOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 10_000;
    this.maxKinds = options.maxKinds ?? 1_000;
    this.now = options.now ?? Date.now;
  }

  error(error: unknown, fields: Readonly<Record<string, unknown>>, message: string): void {
    const errorText = describe(error);
    const key = `${message}\u0000${errorText}`;
    const now = this.now();
    const kind = this.kinds.get(key);
    if (kind !== undefined && now - kind.since < this.intervalMs) {
      kind.repeated += 1;
      return;
    }
    if (kind !== undefined) {
      this.summarise(kind);
      kind.since = now;
      kind.repeated = 0;
    } else if (this.kinds.size < this.maxKinds) {
      this.kinds.set(key, { since: now, repeated: 0, fields, message, errorText });
      this.timer ??= setInterval(() => this.flush(), this.intervalMs).unref();
    }
    this.logger.error({ ...fields, err: error }, message);
  }

  /** Writes the count of every interval that has ended and forgets kinds gone quiet. */
  flush(): void {
    const now = this.now();
    for (const [key, kind] of this.kinds) {
      if (now - kind.since < this.intervalMs) continue;
      if (kind.repeated > 0) {
        this.summarise(kind);
        // The repeats get an interval of their own: a kind still failing keeps one line per interval.
        kind.since = now;
        kind.repeated = 0;
      } else {
        this.kinds.delete(key);
      }
    }
    if (this.kinds.size === 0) this.stop();
  }

  /** Writes the pending counts now, whatever their interval, and stops the timer. */
  close(): void {
    for (const kind of this.kinds.values()) if (kind.repeated > 0) this.summarise(kind);
    this.kinds.clear();
    this.stop();
  }

  private summarise(kind: Kind): void {
    const seconds = Math.max(1, Math.round((this.now() - kind.since) / 1000));
    this.logger.error(
      { ...kind.fields, error: kind.errorText, repeated: kind.repeated },
      `${kind.message} (${kind.repeated} more in ${seconds}s, same error)`,
    );
  }

  private stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** "ErrorClass [code]: message", the identity of an error for folding. */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error).slice(0, 200);
  const code = (error as { code?: unknown }).code;
  const codeText = typeof code === "string" || typeof code === "number" ? ` [${code}]` : "";
  return `${error.name}${codeText}: ${error.message.slice(0, 200)}`;
}
