// `--name=value` flags for bench scripts (npm run bench -- <part> --duration=3000).
export function numberFlag(name: string, fallback: number): number {
  const raw = stringFlag(name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new Error(`--${name} must be a number, got ${raw}`);
  return value;
}

export function stringFlag(name: string): string | undefined {
  const prefix = `--${name}=`;
  const arg = process.argv.slice(2).find((a) => a.startsWith(prefix));
  return arg?.slice(prefix.length);
}
