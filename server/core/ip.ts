// The address a request came from: the socket peer, or — only when that
// peer is a configured trusted proxy — what X-Forwarded-For / X-Real-IP say.
// Plus the optional masking of SPEC §1: IPv4 → last octet 0, IPv6 → first 48 bits.
import net from "node:net";

/** "::ffff:1.2.3.4" → "1.2.3.4"; anything else as is. */
export function normalizeIp(address: string): string {
  const trimmed = address.trim();
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(trimmed);
  return mapped ? mapped[1]! : trimmed;
}

/** A set of trusted proxies from addresses and CIDR blocks ("10.0.0.0/8", "::1", "fd00::/8"). */
export class TrustedProxies {
  private readonly list = new net.BlockList();
  readonly size: number;

  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      const [address, prefix] = entry.trim().split("/");
      const family = net.isIP(address ?? "");
      if (!address || family === 0) throw new Error(`trusted proxy "${entry}" is not an IP address or CIDR block`);
      const type = family === 4 ? "ipv4" : "ipv6";
      if (prefix === undefined) this.list.addAddress(address, type);
      else {
        const bits = Number(prefix);
        if (!Number.isInteger(bits) || bits < 0 || bits > (family === 4 ? 32 : 128)) throw new Error(`trusted proxy "${entry}" has a bad prefix length`);
        this.list.addSubnet(address, bits, type);
      }
    }
    this.size = entries.length;
  }

  has(address: string): boolean {
    if (this.size === 0) return false;
    const normalized = normalizeIp(address);
    const family = net.isIP(normalized);
    if (family === 0) return false;
    return this.list.check(normalized, family === 4 ? "ipv4" : "ipv6");
  }
}

type HeaderValue = string | string[] | null | undefined;

function headerText(value: HeaderValue): string | undefined {
  if (value === null || value === undefined) return undefined;
  return Array.isArray(value) ? value.join(",") : value;
}

/**
 * The client's address. Forwarding headers count only when the peer is trusted;
 * X-Forwarded-For is read from the right, skipping trusted proxies, so a client
 * cannot put an address of its choosing in front of the chain.
 */
export function clientIp(peer: string | undefined, forwardedFor: HeaderValue, realIp: HeaderValue, trusted: TrustedProxies): string | null {
  const peerIp = peer ? normalizeIp(peer) : undefined;
  if (!peerIp) return null;
  if (!trusted.has(peerIp)) return peerIp;
  const chain = (headerText(forwardedFor) ?? "")
    .split(",")
    .map((part) => normalizeIp(part))
    .filter((part) => net.isIP(part) !== 0);
  for (let i = chain.length - 1; i >= 0; i--) {
    if (!trusted.has(chain[i]!)) return chain[i]!;
  }
  const real = normalizeIp(headerText(realIp) ?? "");
  if (net.isIP(real) !== 0) return real;
  return chain[0] ?? peerIp;
}

/** Expands an IPv6 address to eight 16-bit groups, or undefined when it does not parse. */
function ipv6Groups(address: string): number[] | undefined {
  if (net.isIP(address) !== 6) return undefined;
  let text = address.split("%", 1)[0]!;
  const v4 = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split("::") as [string, string | undefined];
  const parse = (part: string): number[] => (part === "" ? [] : part.split(":").map((group) => Number.parseInt(group, 16)));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  const zeros = tail === undefined ? 0 : 8 - left.length - right.length;
  const groups = [...left, ...new Array<number>(zeros).fill(0), ...right];
  return groups.length === 8 ? groups : undefined;
}

/** IPv4 with its last octet set to 0, IPv6 cut to its first 48 bits; anything that is not an IP unchanged. */
export function maskIp(address: string): string {
  const ip = normalizeIp(address);
  const family = net.isIP(ip);
  if (family === 4) return ip.replace(/\.\d{1,3}$/, ".0");
  const groups = family === 6 ? ipv6Groups(ip) : undefined;
  if (!groups) return address;
  return `${groups
    .slice(0, 3)
    .map((group) => group.toString(16))
    .join(":")}::`;
}
