/** A small keep-alive HTTP/1.1 client for the bench driver (node:http; no dependency). */
import http from 'node:http';

export interface HttpReply { status: number; headers: http.IncomingHttpHeaders; body: string }

export function agent(connections: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets: connections });
}

let authorization: string | undefined;

/** The bearer token every request to Hearth carries (the FHIR API requires one). */
export function useToken(token: string): void {
  authorization = `Bearer ${token}`;
}

export function request(a: http.Agent, method: string, url: string, body?: string,
  headers: Record<string, string> = {}): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent: a, headers: {
      accept: 'application/fhir+json',
      ...(authorization ? { authorization } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/fhir+json', 'content-length': Buffer.byteLength(body) }),
      ...headers,
    } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers,
        body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Throws with the start of the body when the status is not the expected one. */
export function expectStatus(r: HttpReply, expected: number, what: string): void {
  if (r.status !== expected) throw new Error(`${what}: HTTP ${r.status} (expected ${expected}): ${r.body.slice(0, 500)}`);
}
