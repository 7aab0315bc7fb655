/**
 * Where Bulk Data output files live (bulk-data.md §7): an interface a directory fills now and an S3-compatible store
 * could fill later (a multipart upload per file, parts as checkpoints). Files are addressed by tenant, job and name.
 *
 * A tenant with a data key gets its files sealed (db/sealed-file.ts), each bound to its job and name: byte ranges
 * and lengths are of the NDJSON text; checkpoints are file offsets.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Keyring } from '../db/db.js';
import { type ByteRange, FileCipher, type FileWriter, RESEALING, fileKeyVersions, openWriter, readFile, resealFile }
  from '../db/sealed-file.js';
import { schemaFor } from '../storage/tenants.js';

export type { ByteRange } from '../db/sealed-file.js';
/** One output file being written: `write` appends (callers pass whole pages), `sync` makes it durable and answers its length. */
export type ExportFileWriter = FileWriter;

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
  /** The names of a job's files. */
  names(tenant: string, job: string): Promise<string[]>;
  /** The data key versions a file is sealed with (none: in clear). */
  keyVersions(tenant: string, job: string, name: string): Promise<number[]>;
  /**
   * Rewrites a file that nothing writes any more under the tenant's newest key (a file in clear gets sealed), frame
   * for frame, and replaces it at once: a download already under way reads the old file to its end.
   */
  reseal(tenant: string, job: string, name: string): Promise<void>;
}

const SAFE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function safe(part: string): string {
  if (!SAFE.test(part) || part.includes('..')) throw new Error(`Unsafe export path part: ${JSON.stringify(part)}`);
  return part;
}

/** HEARTH_EXPORT_DIR/<tenant>/<job>/<name>; sealed with the tenant's data key when the keyring has one for it. */
export class DirectoryStore implements ExportStore {
  constructor(readonly root: string, private readonly keyring?: Keyring) {}

  private file(tenant: string, job: string, name?: string): string {
    return path.join(this.root, safe(tenant), safe(job), ...(name === undefined ? [] : [safe(name)]));
  }

  private cipher(tenant: string, job: string, name: string): FileCipher | undefined {
    return this.keyring ? new FileCipher(this.keyring, schemaFor(tenant), `${job}\0${name}`, name) : undefined;
  }

  async open(tenant: string, job: string, name: string, keep: number): Promise<ExportFileWriter> {
    const file = this.file(tenant, job, name);
    await fs.promises.mkdir(path.dirname(file), { recursive: true });
    return openWriter(file, keep, this.cipher(tenant, job, name));
  }

  read(tenant: string, job: string, name: string, range?: (size: number) => ByteRange | undefined) {
    return readFile(this.file(tenant, job, name), this.cipher(tenant, job, name), range);
  }

  async remove(tenant: string, job: string): Promise<void> {
    await fs.promises.rm(this.file(tenant, job), { recursive: true, force: true });
  }

  async jobs(): Promise<{ tenant: string; job: string }[]> {
    const out: { tenant: string; job: string }[] = [];
    for (const tenant of await directories(this.root)) {
      for (const job of await directories(path.join(this.root, tenant))) out.push({ tenant, job });
    }
    return out;
  }

  async names(tenant: string, job: string): Promise<string[]> {
    return (await fs.promises.readdir(this.file(tenant, job), { withFileTypes: true }).catch(() => []))
      .filter((d) => d.isFile() && SAFE.test(d.name) && !d.name.endsWith(RESEALING)).map((d) => d.name).sort();
  }

  keyVersions(tenant: string, job: string, name: string): Promise<number[]> {
    return fileKeyVersions(this.file(tenant, job, name), name);
  }

  async reseal(tenant: string, job: string, name: string): Promise<void> {
    const cipher = this.cipher(tenant, job, name);
    if (!cipher) throw new Error('no keyring is configured');
    await resealFile(this.file(tenant, job, name), cipher);
  }
}

async function directories(dir: string): Promise<string[]> {
  return (await fs.promises.readdir(dir, { withFileTypes: true }).catch(() => [])).filter((d) => d.isDirectory()).map((d) => d.name);
}

/** The store configuration names, sealing with the database's keyring. */
export function exportStore(deps: { config: { exportDir: string }; db: { keyring: Keyring } }): ExportStore {
  return new DirectoryStore(deps.config.exportDir, deps.db.keyring);
}
