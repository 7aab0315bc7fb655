/** Building Bundles and their paging links — http://hl7.org/fhir/R4/bundle.html, http.html#paging */
import type { Bundle, BundleEntry } from './types.js';
import type { Params } from './types.js';

export function pageUrl(base: string, path: string, params: Params): string {
  const qs = new URLSearchParams(params).toString();
  return `${base}/${path}${qs ? `?${qs}` : ''}`;
}

export interface PageLinks {
  self: string;
  first?: string;
  next?: string;
  previous?: string;
}

export function bundle(type: string, entries: BundleEntry[], links: PageLinks, total?: number): Bundle {
  const link = (['self', 'first', 'previous', 'next'] as const)
    .filter((r) => links[r] !== undefined).map((relation) => ({ relation, url: links[relation]! }));
  return {
    resourceType: 'Bundle',
    type,
    ...(total !== undefined ? { total } : {}),
    link,
    entry: entries,
  };
}

export const STATUS_TEXT: Record<number, string> = {
  200: '200 OK', 201: '201 Created', 204: '204 No Content', 304: '304 Not Modified', 400: '400 Bad Request',
  401: '401 Unauthorized', 403: '403 Forbidden', 404: '404 Not Found', 405: '405 Method Not Allowed',
  409: '409 Conflict', 410: '410 Gone', 412: '412 Precondition Failed', 415: '415 Unsupported Media Type',
  422: '422 Unprocessable Entity', 500: '500 Internal Server Error',
};

export const statusText = (status: number): string => STATUS_TEXT[status] ?? String(status);
