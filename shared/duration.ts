// Durations as people type them ("500ms", "90s", "10m", "24h", "7d", "1h30m"),
// read the same by the fleetbeat CLI and by the fleetbeat-agent bin.

export const durationUnits = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
export type DurationUnit = keyof typeof durationUnits;

/**
 * Milliseconds of a duration; a plain number counts in `plainUnit` (each flag
 * keeps the unit it always had). Undefined when malformed or beyond a safe integer.
 */
export function parseDuration(text: string, plainUnit: DurationUnit = "s"): number | undefined {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) {
    const ms = Number(trimmed) * durationUnits[plainUnit];
    return Number.isSafeInteger(ms) ? ms : undefined;
  }
  if (!/^(\d+(ms|s|m|h|d))+$/.test(trimmed)) return undefined;
  let total = 0;
  for (const match of trimmed.matchAll(/(\d+)(ms|s|m|h|d)/g)) total += Number(match[1]) * durationUnits[match[2] as DurationUnit];
  return Number.isSafeInteger(total) ? total : undefined;
}
