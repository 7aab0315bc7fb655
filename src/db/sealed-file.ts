/**
 * Files sealed with a tenant's data key (issue #17 §1, README "Encryption at rest"): Bulk Data output, import
 * outcomes, audit archives. After a magic line a sealed file is a run of frames — a 4-byte length and a block sealed
 * with AES-256-GCM under the tenant's key (Keyring.sealBlock), bound to the tenant, the file (its scope) and the
 * frame's place, so frames cannot be reordered, moved between files or between tenants — each holding at most
 * FRAME_MAX bytes of the file's text. Ranges and lengths callers see are of the text; a writer's offsets (its
 * checkpoints) are of the file, and a frame never spans one. A file without the magic line is read as it is (a tenant
 * in clear).
 */
import fs from 'node:fs';
import { Readable } from 'node:stream';
import { fileUnreadable } from '../errors.js';
import type { Keyring } from './db.js';
import { SEALED_OVERHEAD, sealedKeyVersion } from './vault.js';

type Handle = fs.promises.FileHandle;

/** The first bytes of a sealed file (NDJSON starts with '{'). */
const MAGIC = Buffer.from('HEARTH-SEALED-1\n', 'utf8');
/** The most text one frame holds: a range read opens only the frames it overlaps. */
const FRAME_MAX = 1 << 20;
const LENGTH = 4;

export interface ByteRange { start: number; end: number }

/** A file being written: `write` appends, `sync` makes it durable and answers the file's length (a checkpoint). */
export interface FileWriter {
  write(text: string | Buffer): Promise<void>;
  sync(): Promise<number>;
  close(): Promise<void>;
}

async function writeAt(fh: Handle, buf: Buffer, at: number): Promise<void> {
  for (let done = 0; done < buf.length;) done += (await fh.write(buf, done, buf.length - done, at + done)).bytesWritten;
}

async function readAt(fh: Handle, length: number, at: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, at + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return buf.subarray(0, done);
}

async function isSealed(fh: Handle): Promise<boolean> {
  return (await readAt(fh, MAGIC.length, 0)).equals(MAGIC);
}

/** A frame: where its sealed block lies in the file, and where its text starts and how long it is. */
interface Frame { at: number; length: number; start: number; text: number }

/** The frames of a sealed file up to `limit` bytes; 500 (fileUnreadable) when they do not end exactly there. */
async function framesOf(fh: Handle, limit: number, name: string): Promise<Frame[]> {
  const frames: Frame[] = [];
  let at = MAGIC.length;
  let start = 0;
  while (at < limit) {
    const head = await readAt(fh, LENGTH, at);
    const length = head.length === LENGTH ? head.readUInt32BE(0) : 0;
    if (length < SEALED_OVERHEAD || length > FRAME_MAX + SEALED_OVERHEAD || at + LENGTH + length > limit) throw fileUnreadable(name);
    frames.push({ at: at + LENGTH, length, start, text: length - SEALED_OVERHEAD });
    start += length - SEALED_OVERHEAD;
    at += LENGTH + length;
  }
  if (at !== limit) throw fileUnreadable(name);
  return frames;
}

/**
 * How one file's frames are sealed and opened: under a tenant's keys, bound to `scope` (which file: e.g. a job and a
 * file name) and to each frame's place. `name` only names the file in errors.
 */
export class FileCipher {
  constructor(private readonly keyring: Keyring, private readonly schema: string, private readonly scope: string,
    readonly name: string) {}

  /** Whether the tenant's new files are sealed (it has a data key). */
  sealing(): Promise<boolean> {
    return this.keyring.sealing(this.schema);
  }

  /** A frame (length and block) of text; undefined for a tenant in clear. */
  async seal(index: number, text: Buffer): Promise<Buffer | undefined> {
    const block = await this.keyring.sealBlock(this.schema, `${this.scope}\0${index}`, text);
    if (!block) return undefined;
    const frame = Buffer.alloc(LENGTH + block.length);
    frame.writeUInt32BE(block.length, 0);
    block.copy(frame, LENGTH);
    return frame;
  }

  async open(fh: Handle, frame: Frame, index: number): Promise<Buffer> {
    const block = await readAt(fh, frame.length, frame.at);
    try {
      return await this.keyring.openBlock(this.schema, `${this.scope}\0${index}`, block);
    } catch {
      throw fileUnreadable(this.name);
    }
  }
}

/** Appends through a file descriptor positioned by its own offset (no buffering: callers write whole pages). */
class Writer implements FileWriter {
  /** sealed: the cipher and the index of the next frame. */
  constructor(private readonly fh: Handle, private offset: number, private readonly sealed?: { cipher: FileCipher; index: number }) {}

  async write(text: string | Buffer): Promise<void> {
    const buf = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
    if (!this.sealed) {
      await writeAt(this.fh, buf, this.offset);
      this.offset += buf.length;
      return;
    }
    for (let at = 0; at < buf.length; at += FRAME_MAX) {
      const frame = await this.sealed.cipher.seal(this.sealed.index, buf.subarray(at, at + FRAME_MAX));
      // The tenant's keys went (deleted while a job wrote): nothing more is written, least of all in clear.
      if (!frame) throw new Error('the tenant has no data key to seal its file with');
      await writeAt(this.fh, frame, this.offset);
      this.offset += frame.length;
      this.sealed.index++;
    }
  }

  async sync(): Promise<number> {
    await this.fh.datasync();
    return this.offset;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

async function newWriter(fh: Handle, cipher: FileCipher | undefined): Promise<Writer> {
  await fh.truncate(0);
  if (!cipher || !(await cipher.sealing())) return new Writer(fh, 0);
  await writeAt(fh, MAGIC, 0);
  return new Writer(fh, MAGIC.length, { cipher, index: 0 });
}

/**
 * Opens a file for appending after its first `keep` bytes (0: a new file, sealed when the tenant has a key now),
 * dropping anything after them. A resumed file keeps the form it was begun in.
 */
export async function openWriter(file: string, keep: number, cipher: FileCipher | undefined): Promise<FileWriter> {
  const fh = await fs.promises.open(file, keep > 0 ? 'r+' : 'w');
  try {
    if (keep === 0) return await newWriter(fh, cipher);
    const sealed = await isSealed(fh);
    if (sealed && !cipher) throw new Error(`${file} is sealed and no keyring is configured`);
    const index = sealed ? (await framesOf(fh, keep, cipher!.name)).length : 0;
    await fh.truncate(keep);
    return new Writer(fh, keep, sealed ? { cipher: cipher!, index } : undefined);
  } catch (e) {
    await fh.close();
    throw e;
  }
}

/** The text of a sealed file's frames overlapping [start, end], opened one frame at a time as the stream is read. */
async function* frameText(fh: Handle, cipher: FileCipher, frames: Frame[], start: number, end: number,
  first: Buffer | undefined): AsyncGenerator<Buffer> {
  try {
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i]!;
      if (f.start + f.text <= start) continue;
      if (f.start > end) break;
      const text = first ?? await cipher.open(fh, f, i);
      first = undefined;
      yield text.subarray(Math.max(0, start - f.start), Math.min(f.text, end - f.start + 1));
    }
  } finally {
    await fh.close();
  }
}

export interface Opened { size: number; range?: ByteRange; stream: Readable }

/**
 * A file's text length and a stream of it (or of an inclusive range of it), or undefined when it does not exist.
 * Once opened, the file stays readable to its end even if it is removed meanwhile. A sealed file whose frames do not
 * fit or whose first frame read does not open is a 500 (fileUnreadable) here, before anything is streamed.
 */
export async function readFile(file: string, cipher: FileCipher | undefined, range?: (size: number) => ByteRange | undefined):
  Promise<Opened | undefined> {
  let fh: Handle;
  try {
    fh = await fs.promises.open(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const stored = (await fh.stat()).size;
    if (!(await isSealed(fh))) {
      const r = range?.(stored);
      return { size: stored, ...(r ? { range: r } : {}), stream: fh.createReadStream(r ? { start: r.start, end: r.end } : {}) };
    }
    if (!cipher) throw new Error(`${file} is sealed and no keyring is configured`);
    const frames = await framesOf(fh, stored, cipher.name);
    const size = frames.reduce((n, f) => n + f.text, 0);
    const r = range?.(size);
    const [start, end] = r ? [r.start, r.end] : [0, size - 1];
    const i = frames.findIndex((f) => f.start + f.text > start);
    const first = i >= 0 && frames[i]!.start <= end ? await cipher.open(fh, frames[i]!, i) : undefined;
    return { size, ...(r ? { range: r } : {}), stream: Readable.from(frameText(fh, cipher, frames, start, end, first)) };
  } catch (e) {
    await fh.close();
    throw e;
  }
}

/** The data key versions a file is sealed with (none: in clear). */
export async function fileKeyVersions(file: string, name: string): Promise<number[]> {
  const fh = await fs.promises.open(file, 'r');
  try {
    if (!(await isSealed(fh))) return [];
    const versions = new Set<number>();
    for (const f of await framesOf(fh, (await fh.stat()).size, name)) versions.add(sealedKeyVersion(await readAt(fh, 5, f.at)));
    return [...versions].sort((a, b) => a - b);
  } finally {
    await fh.close();
  }
}

/** A file being resealed is written beside the old one under this suffix, then renamed over it. */
export const RESEALING = '.resealing';

/**
 * Rewrites a file nothing writes any more under the tenant's newest key (a file in clear gets sealed) and replaces
 * it at once: a reader already under way reads the old file to its end. A sealed file keeps its frames' places.
 */
export async function resealFile(file: string, cipher: FileCipher): Promise<void> {
  const temp = `${file}${RESEALING}`;
  const from = await fs.promises.open(file, 'r');
  try {
    const out = await newWriter(await fs.promises.open(temp, 'w'), cipher);
    try {
      if (await isSealed(from)) {
        const frames = await framesOf(from, (await from.stat()).size, cipher.name);
        for (let i = 0; i < frames.length; i++) await out.write(await cipher.open(from, frames[i]!, i));
      } else {
        const size = (await from.stat()).size;
        for (let at = 0; at < size; at += FRAME_MAX) await out.write(await readAt(from, Math.min(FRAME_MAX, size - at), at));
      }
      await out.sync();
    } finally {
      await out.close();
    }
    await fs.promises.rename(temp, file);
  } catch (e) {
    await fs.promises.rm(temp, { force: true });
    throw e;
  } finally {
    await from.close();
  }
}
