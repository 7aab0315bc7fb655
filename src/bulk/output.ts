/**
 * The NDJSON files of one export (bulk-data.md §7.2, §7.6): one type per file, a new file every
 * HEARTH_EXPORT_FILE_RESOURCES lines, and checkpoints that make the written lines durable and record each open file's
 * length, so that a resumed job truncates to it and continues where the checkpoint left off.
 */
import type { ExportFileWriter, ExportStore } from './store.js';
import type { ExportFile, FileKind } from './types.js';

export interface FileState {
  open: Record<string, ExportFile>;
  closed: ExportFile[];
}

const KEY: Record<FileKind, (type: string) => string> = { output: (t) => t, deleted: () => 'deleted', error: () => 'error' };

/** File names: Observation-1.ndjson …, deleted-1.ndjson, error-1.ndjson (type names never start lower case). */
const fileName = (key: string, part: number) => `${key}-${part}.ndjson`;

/** Index of the k-th newline (k ≥ 1). */
function nthNewline(text: string, k: number): number {
  let at = -1;
  for (let i = 0; i < k; i++) at = text.indexOf('\n', at + 1);
  return at;
}

export class OutputFiles {
  private readonly writers = new Map<string, ExportFileWriter>();
  /** Blocks of lines appended since the last flush, by file key: written as one block per file and page. */
  private readonly pending = new Map<string, string[]>();

  constructor(private readonly store: ExportStore, private readonly tenant: string, private readonly job: string,
    private readonly perFile: number, readonly state: FileState) {}

  private nextPart(key: string): number {
    const parts = this.state.closed.filter((f) => KEY[f.kind](f.type) === key).map((f) => f.part);
    return Math.max(0, ...parts) + 1;
  }

  /** The writer of the key's open file: a new file, or (after a restart) the old one cut back to its checkpoint. */
  private async writer(kind: FileKind, type: string, key: string): Promise<[ExportFile, ExportFileWriter]> {
    let f = this.state.open[key];
    if (!f) {
      const part = this.nextPart(key);
      f = this.state.open[key] = { kind, type, name: fileName(key, part), part, count: 0, bytes: 0 };
    }
    let w = this.writers.get(key);
    if (!w) {
      w = await this.store.open(this.tenant, this.job, f.name, f.bytes);
      this.writers.set(key, w);
    }
    return [f, w];
  }

  /**
   * Adds n lines (text: joined by newlines, JSON lines never contain one) to the type's open file, starting a new
   * file whenever one is full; written at the next flush.
   */
  async appendBlock(kind: FileKind, type: string, text: string, n: number): Promise<void> {
    const key = KEY[kind](type);
    let rest = text;
    for (let left = n; left > 0;) {
      const f = this.writers.has(key) ? this.state.open[key]! : (await this.writer(kind, type, key))[0];
      const take = Math.min(left, this.perFile - f.count);
      let part = rest;
      if (take < left) {
        const cut = nthNewline(rest, take);
        part = rest.slice(0, cut);
        rest = rest.slice(cut + 1);
      }
      const lines = this.pending.get(key);
      if (lines) lines.push(part);
      else this.pending.set(key, [part]);
      f.count += take;
      left -= take;
      if (f.count >= this.perFile) await this.close(key);
    }
  }

  /** Writes the pending lines (after each page: strings never outlive their page, so the heap stays small). */
  async flush(): Promise<void> {
    for (const key of [...this.pending.keys()]) await this.flushKey(key);
  }

  private async close(key: string): Promise<void> {
    await this.flushKey(key);
    const f = this.state.open[key]!;
    // A file carried over from before a restart and not written since is still cut back to its checkpoint.
    const w = this.writers.get(key) ?? await this.store.open(this.tenant, this.job, f.name, f.bytes);
    f.bytes = await w.sync();
    await w.close();
    this.writers.delete(key);
    delete this.state.open[key];
    this.state.closed.push(f);
  }

  private async flushKey(key: string): Promise<void> {
    const lines = this.pending.get(key);
    if (!lines) return;
    this.pending.delete(key);
    await this.writers.get(key)!.write(`${lines.join('\n')}\n`);
  }

  /** Makes every line appended so far durable and records the open files' lengths (call before saving progress). */
  async checkpoint(): Promise<void> {
    await this.flush();
    for (const [key, w] of this.writers) this.state.open[key]!.bytes = await w.sync();
  }

  /** Closes every open file; the state then lists all files. */
  async finish(): Promise<void> {
    for (const key of Object.keys(this.state.open)) await this.close(key);
  }

  /** Releases file handles without recording anything (the job stops; its last checkpoint stands). */
  async abandon(): Promise<void> {
    this.pending.clear();
    for (const w of this.writers.values()) await w.close().catch(() => undefined);
    this.writers.clear();
  }
}
