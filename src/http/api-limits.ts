/**
 * Rate limits on the FHIR API (issue #16 §5): requests per minute per client and per user of a tenant, counted after
 * the token is verified (so an anonymous flood costs a signature check, and is answered 401). Beyond a limit the
 * answer is 429 with Retry-After; the first refusal of each key in a window is audited (the caller audits a refusal
 * it is told to), the rest are not, so a flood does not flood the audit trail. Counters live in this process
 * (rate-limiter-flexible's memory store): with N nodes behind a balancer a client gets up to N times the limit.
 */
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { Principal } from '../auth/access.js';
import { type FhirError, apiThrottled } from '../errors.js';

const WINDOW_S = 60;

export interface Refusal { error: FhirError; audit: boolean }

export class ApiLimits {
  private readonly perClient?: RateLimiterMemory;
  private readonly perUser?: RateLimiterMemory;

  /** Requests per minute; 0 turns that limit off. */
  constructor(clientPerMinute: number, userPerMinute: number) {
    if (clientPerMinute > 0) this.perClient = new RateLimiterMemory({ points: clientPerMinute, duration: WINDOW_S });
    if (userPerMinute > 0) this.perUser = new RateLimiterMemory({ points: userPerMinute, duration: WINDOW_S });
  }

  /** Counts one request of the principal in the tenant; a refusal when a limit is spent. */
  async take(tenant: string, p: Principal): Promise<Refusal | undefined> {
    // A backend service's sub is its client id: it is limited as a client only.
    const user = p.subject !== p.clientId ? p.subject : undefined;
    return await this.consume(this.perClient, `${tenant}\n${p.clientId}`, 'client')
      ?? (user === undefined ? undefined : await this.consume(this.perUser, `${tenant}\n${user}`, 'user'));
  }

  private async consume(limiter: RateLimiterMemory | undefined, key: string, who: 'client' | 'user'): Promise<Refusal | undefined> {
    if (!limiter) return undefined;
    try {
      await limiter.consume(key);
      return undefined;
    } catch (e) {
      if (!(e instanceof RateLimiterRes)) throw e;
      const retryAfterS = Math.max(1, Math.ceil(e.msBeforeNext / 1000));
      return { error: apiThrottled(who, limiter.points, retryAfterS), audit: e.consumedPoints === limiter.points + 1 };
    }
  }
}
