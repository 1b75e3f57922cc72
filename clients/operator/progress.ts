// A one-line progress bar for long exports, redrawn in place on a terminal.
// Only drawn when the stream is a TTY; redrawn at most every `intervalMs`.
import { formatBytes, formatCount } from "./format.js";

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressState {
  events: number;
  bytes: number;
}

export class ProgressBar {
  private lastDraw = 0;
  private drawn = false;
  private readonly startedAt: number;

  constructor(
    private readonly stream: ProgressStream,
    private readonly options: { total?: number | undefined; label?: string; intervalMs?: number; now?: () => number } = {},
  ) {
    this.startedAt = this.now();
  }

  /** Whether anything will be drawn at all. */
  get enabled(): boolean {
    return this.stream.isTTY === true;
  }

  update(state: ProgressState, force = false): void {
    if (!this.enabled) return;
    const now = this.now();
    if (!force && this.drawn && now - this.lastDraw < (this.options.intervalMs ?? 100)) return;
    this.lastDraw = now;
    this.drawn = true;
    this.stream.write(`\r${this.line(state, now)}\u001b[K`);
  }

  /** Removes the bar, leaving the line empty for what follows. */
  finish(): void {
    if (!this.enabled || !this.drawn) return;
    this.stream.write("\r\u001b[K");
    this.drawn = false;
  }

  /** The text of the bar for `state` (without control characters). */
  line(state: ProgressState, now: number = this.now()): string {
    const elapsed = Math.max(0.001, (now - this.startedAt) / 1000);
    const rate = state.events / elapsed;
    const label = this.options.label ?? "exporting";
    const counts = `${formatCount(state.events)}${this.options.total !== undefined ? `/${formatCount(this.options.total)}` : ""} events`;
    const tail = `${counts}  ${formatBytes(state.bytes)}  ${formatCount(Math.round(rate))} ev/s`;
    const total = this.options.total;
    if (total === undefined || total <= 0) return `${label} ${tail}`;
    const fraction = Math.min(1, state.events / total);
    const columns = this.stream.columns ?? 80;
    const barWidth = Math.max(10, Math.min(40, columns - tail.length - label.length - 12));
    const filled = Math.round(fraction * barWidth);
    const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
    return `${label} [${"#".repeat(filled)}${"-".repeat(barWidth - filled)}] ${percent} ${tail}`;
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }
}
