// Latency statistics for the bench harness. Latencies are recorded in
// microseconds into a growable Float64Array and summarised once at the end.

export class LatencyRecorder {
  private values: Float64Array;
  private size = 0;

  constructor(initialCapacity = 1 << 16) {
    this.values = new Float64Array(Math.max(16, initialCapacity));
  }

  record(micros: number): void {
    if (this.size === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.size++] = micros;
  }

  get count(): number {
    return this.size;
  }

  summary(): LatencySummary {
    return summarize(this.values.subarray(0, this.size));
  }
}

export interface LatencySummary {
  count: number;
  /** Microseconds. */
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile (p in 0..100) of sorted values. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  const index = Math.min(sorted.length - 1, Math.max(0, rank - 1));
  return sorted[index]!;
}

export function summarize(values: Float64Array): LatencySummary {
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count: sorted.length,
    min: sorted.length ? sorted[0]! : 0,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1]! : 0,
    mean: sorted.length ? sum / sorted.length : 0,
  };
}
