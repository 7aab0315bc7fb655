/** Opaque, signed page tokens for keyset paging; a tampered token → 410 (project decision, fhir-rest.md §19.4). */
import crypto from 'node:crypto';
import { pageLinkExpired, pageLinkInvalid } from '../errors.js';

export interface PageKey {
  /** Direction: next page (older/after) or previous page. */
  d: 'n' | 'p';
  /** The keyset position: values of the sort keys of the boundary row. */
  k: (string | number | null)[];
}

export class PageTokens {
  private readonly secret: Buffer;
  constructor(secret?: string) {
    this.secret = secret ? Buffer.from(secret) : crypto.randomBytes(32);
  }

  private mac(payload: string): string {
    return crypto.createHmac('sha256', this.secret).update(payload).digest('base64url').slice(0, 22);
  }

  encode(key: PageKey): string {
    const payload = Buffer.from(JSON.stringify(key)).toString('base64url');
    return `${payload}.${this.mac(payload)}`;
  }

  decode(token: string): PageKey {
    const [payload, mac] = token.split('.');
    const good = payload && mac && mac.length === 22 &&
      crypto.timingSafeEqual(Buffer.from(mac), Buffer.from(this.mac(payload)));
    if (!good) throw pageLinkExpired();
    const key = JSON.parse(Buffer.from(payload, 'base64url').toString()) as PageKey;
    if ((key.d !== 'n' && key.d !== 'p') || !Array.isArray(key.k)) throw pageLinkInvalid();
    return key;
  }
}
