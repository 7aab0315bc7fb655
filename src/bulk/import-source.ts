/**
 * Where `$import` reads its inputs (issue #14 §3): `file://` URLs inside HEARTH_IMPORT_DIR, `http(s)://` URLs under a
 * prefix of HEARTH_IMPORT_ALLOW_URLS, and (the `hearth import` command only) any local path. Inputs are read as a
 * stream from a byte offset — a resumed job continues after its last committed batch — and cut into lines with the
 * byte offset after each, so memory stays bounded whatever the file's size.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { badRequest } from '../errors.js';

export interface SourceConfig { importDir: string; importAllowUrls: string[] }

/** Refuses (400) an input URL this server may not read; `local` (the CLI) may name any absolute file path. */
export function checkInputUrl(config: SourceConfig, url: string, local = false): void {
  if (/^https?:\/\//i.test(url)) {
    if (!config.importAllowUrls.some((prefix) => url.startsWith(prefix))) {
      throw badRequest(`Input ${url} is not under an allowed URL prefix (HEARTH_IMPORT_ALLOW_URLS)`, ['input.url']);
    }
    return;
  }
  if (!url.startsWith('file://')) throw badRequest(`Input ${url} must be a file:// or http(s):// URL`, ['input.url']);
  let file: string;
  try {
    file = fileURLToPath(url);
  } catch {
    throw badRequest(`Input ${url} is not a valid file URL`, ['input.url']);
  }
  if (local) return;
  const root = path.resolve(config.importDir);
  const resolved = path.resolve(file);
  if (resolved !== root && !resolved.startsWith(`${root}${path.sep}`)) {
    throw badRequest(`Input ${url} is outside the import directory (HEARTH_IMPORT_DIR)`, ['input.url']);
  }
  let real: string;
  try {
    real = fs.realpathSync(resolved);
  } catch {
    throw badRequest(`Input ${url} does not exist`, ['input.url']);
  }
  // A symbolic link inside the directory must not lead out of it.
  const realRoot = fs.realpathSync(root);
  if (!real.startsWith(`${realRoot}${path.sep}`)) throw badRequest(`Input ${url} is outside the import directory (HEARTH_IMPORT_DIR)`, ['input.url']);
}

/** The input's bytes from `offset` on. */
async function open(url: string, offset: number): Promise<Readable> {
  if (url.startsWith('file://')) return fs.createReadStream(fileURLToPath(url), { start: offset, highWaterMark: 1 << 20 });
  const res = await fetch(url, { headers: offset > 0 ? { range: `bytes=${offset}-` } : {}, redirect: 'error' });
  if (!res.ok || !res.body) throw new Error(`GET ${url} answered ${res.status}`);
  const stream = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
  if (offset === 0 || res.status === 206) return stream;
  // The server ignored the range: skip what was already read.
  let skip = offset;
  return Readable.from((async function* () {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (skip >= chunk.length) { skip -= chunk.length; continue; }
      yield chunk.subarray(skip);
      skip = 0;
    }
  })());
}

export interface Line {
  /** 1-based line number in the input. */
  number: number;
  /** undefined when the line was longer than the limit (its bytes were skipped). */
  text: string | undefined;
  /** Byte offset just after the line's newline: where a resumed job starts. */
  end: number;
}

/**
 * The input's lines from byte `offset` (line number `firstLine`), each at most `maxBytes` long; a longer one is
 * skipped as it streams and reported with text undefined.
 */
export async function* readLines(url: string, offset: number, firstLine: number, maxBytes: number): AsyncGenerator<Line> {
  const stream = await open(url, offset);
  let parts: Buffer[] = [];
  let size = 0;
  let tooLong = false;
  let position = offset;
  let number = firstLine;
  const finish = (end: number): Line => {
    const text = tooLong ? undefined : Buffer.concat(parts, size).toString('utf8');
    parts = [];
    size = 0;
    tooLong = false;
    return { number: number++, text, end };
  };
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      const piece = chunk.subarray(start, nl < 0 ? chunk.length : nl);
      if (!tooLong) {
        if (size + piece.length > maxBytes) {
          tooLong = true;
          parts = [];
          size = 0;
        } else if (piece.length > 0) {
          parts.push(Buffer.from(piece));
          size += piece.length;
        }
      }
      if (nl < 0) break;
      yield finish(position + nl + 1);
      start = nl + 1;
    }
    position += chunk.length;
  }
  if (size > 0 || tooLong) yield finish(position);
}
