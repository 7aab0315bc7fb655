/**
 * Where Bulk Data output files live (bulk-data.md §7): an interface a directory fills now and an S3-compatible store
 * could fill later (a multipart upload per file, parts as checkpoints). Files are addressed by tenant, job and name.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';

/** One output file being written: `write` appends (callers pass whole pages), `sync` makes it durable and answers its length. */
export interface ExportFileWriter {
  write(text: string): Promise<void>;
  sync(): Promise<number>;
  close(): Promise<void>;
}

export interface ByteRange { start: number; end: number }

export interface ExportStore {
  /**
   * Opens a job's file for appending after its first `keep` bytes (0 for a new file), dropping anything written after
   * them: a resumed job continues exactly at its last checkpoint.
   */
  open(tenant: string, job: string, name: string, keep: number): Promise<ExportFileWriter>;
  /**
   * The file's size and a stream of it (or of an inclusive byte range), or undefined when it does not exist. Once
   * opened, a file stays readable to its end even if the job's files are removed meanwhile (§7.4).
   */
  read(tenant: string, job: string, name: string, range?: (size: number) => ByteRange | undefined):
    Promise<{ size: number; range?: ByteRange; stream: Readable } | undefined>;
  /** Removes every file of a job (files being downloaded stay readable until their download ends). */
  remove(tenant: string, job: string): Promise<void>;
  /** Every job that has files, for sweeping orphans. */
  jobs(): Promise<{ tenant: string; job: string }[]>;
}

const SAFE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function safe(part: string): string {
  if (!SAFE.test(part) || part.includes('..')) throw new Error(`Unsafe export path part: ${JSON.stringify(part)}`);
  return part;
}

/** Appends through a file descriptor positioned by its own offset (no buffering: callers write whole pages). */
class DirectoryWriter implements ExportFileWriter {
  constructor(private readonly fh: fs.promises.FileHandle, private offset: number) {}

  async write(text: string): Promise<void> {
    const buf = Buffer.from(text, 'utf8');
    let done = 0;
    while (done < buf.length) {
      const { bytesWritten } = await this.fh.write(buf, done, buf.length - done, this.offset + done);
      done += bytesWritten;
    }
    this.offset += buf.length;
  }

  async sync(): Promise<number> {
    await this.fh.datasync();
    return this.offset;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

/** HEARTH_EXPORT_DIR/<tenant>/<job>/<name>. */
export class DirectoryStore implements ExportStore {
  constructor(readonly root: string) {}

  private file(tenant: string, job: string, name?: string): string {
    return path.join(this.root, safe(tenant), safe(job), ...(name === undefined ? [] : [safe(name)]));
  }

  async open(tenant: string, job: string, name: string, keep: number): Promise<ExportFileWriter> {
    const file = this.file(tenant, job, name);
    await fs.promises.mkdir(path.dirname(file), { recursive: true });
    const fh = await fs.promises.open(file, keep > 0 ? 'r+' : 'w');
    await fh.truncate(keep);
    return new DirectoryWriter(fh, keep);
  }

  async read(tenant: string, job: string, name: string, range?: (size: number) => ByteRange | undefined) {
    let fh: fs.promises.FileHandle;
    try {
      fh = await fs.promises.open(this.file(tenant, job, name), 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    let size: number;
    let r: ByteRange | undefined;
    try {
      size = (await fh.stat()).size;
      r = range?.(size);
    } catch (e) {
      await fh.close();
      throw e;
    }
    const stream = fh.createReadStream(r ? { start: r.start, end: r.end } : {});
    return { size, ...(r ? { range: r } : {}), stream };
  }

  async remove(tenant: string, job: string): Promise<void> {
    await fs.promises.rm(this.file(tenant, job), { recursive: true, force: true });
  }

  async jobs(): Promise<{ tenant: string; job: string }[]> {
    const list = async (dir: string) => (await fs.promises.readdir(dir, { withFileTypes: true }).catch(() => []))
      .filter((d) => d.isDirectory()).map((d) => d.name);
    const out: { tenant: string; job: string }[] = [];
    for (const tenant of await list(this.root)) {
      for (const job of await list(path.join(this.root, tenant))) out.push({ tenant, job });
    }
    return out;
  }
}

const stores = new Map<string, ExportStore>();

/** The configured store (one per directory). */
export function exportStore(config: { exportDir: string }): ExportStore {
  let store = stores.get(config.exportDir);
  if (!store) stores.set(config.exportDir, store = new DirectoryStore(config.exportDir));
  return store;
}
