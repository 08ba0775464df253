/** A token bucket's shape: it holds at most `burst` tokens and gains `perSecond` a second. */
export interface BucketRate {
  perSecond: number;
  burst: number;
}

/**
 * One token bucket's state. The rate lives outside (one `BucketRate` shared by
 * every bucket of a limiter), so a bucket costs two numbers.
 */
export class TokenBucket {
  tokens: number;
  /** When `tokens` was last brought up to date (ms). */
  at: number;

  constructor(rate: BucketRate, now: number) {
    this.tokens = rate.burst;
    this.at = now;
  }

  /** Takes one token if there is one. */
  take(rate: BucketRate, now: number): boolean {
    this.#refill(rate, now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Adds one token, which may go up to `maxCredit` above the burst. */
  credit(rate: BucketRate, now: number, maxCredit: number): void {
    this.#refill(rate, now);
    this.tokens = Math.min(rate.burst + maxCredit, this.tokens + 1);
  }

  /** True when the bucket would be full now: forgetting it changes nothing. */
  isFull(rate: BucketRate, now: number): boolean {
    return this.tokens + ((now - this.at) / 1000) * rate.perSecond >= rate.burst;
  }

  #refill(rate: BucketRate, now: number): void {
    if (now > this.at) {
      // Refill never takes away credit above the burst (TokenBucket.credit).
      const refilled = Math.min(rate.burst, this.tokens + ((now - this.at) / 1000) * rate.perSecond);
      this.tokens = Math.max(this.tokens, refilled);
      this.at = now;
    }
  }
}
