import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * An append-only journal of JSON records, one per line, made durable with one
 * `fdatasync` per batch (group commit): every `append` promise resolves only once its
 * record is on disk, and records appended while a sync is in flight share the next one.
 *
 * Replay tolerates a torn last line, which is what a SIGKILL in the middle of a write
 * leaves; the torn bytes are cut off before new records are appended after them.
 */
export class Journal<T> {
  private pending: { line: string; resolve: () => void; reject: (e: Error) => void }[] = [];
  private flushing: Promise<void> | undefined;
  private closed = false;

  private constructor(
    private readonly fd: number,
    /** The journal file. */
    readonly file: string,
  ) {}

  /**
   * Opens (creating if needed) the journal at `file` and returns it with every record
   * already in it, in order.
   */
  static open<T>(file: string): { journal: Journal<T>; records: T[] } {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const records: T[] = [];
    let validBytes = 0;
    if (fs.existsSync(file)) {
      const data = fs.readFileSync(file);
      let start = 0;
      for (let i = 0; i < data.length; i++) {
        if (data[i] !== 0x0a) continue;
        const line = data.subarray(start, i).toString('utf8');
        try {
          if (line.length > 0) records.push(JSON.parse(line) as T);
        } catch {
          // A corrupt line mid-file means the file was damaged, not torn: refuse to guess.
          throw new Error(
            `journal ${file} is corrupt at byte ${start}: not JSON; move it aside to start empty`,
          );
        }
        start = i + 1;
        validBytes = start;
      }
      if (validBytes < data.length) fs.truncateSync(file, validBytes); // the torn tail of a killed write
    }
    const fd = fs.openSync(file, 'a');
    return { journal: new Journal<T>(fd, file), records };
  }

  /** Appends records; resolves when they are durable. */
  append(...records: T[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`journal ${this.file} is closed`));
    if (records.length === 0) return Promise.resolve();
    const line = records.map((r) => JSON.stringify(r)).join('\n') + '\n';
    const done = new Promise<void>((resolve, reject) => this.pending.push({ line, resolve, reject }));
    this.flushing ??= this.flush();
    return done;
  }

  private async flush(): Promise<void> {
    // Let the current tick's appends join this batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      try {
        await writeAll(this.fd, Buffer.from(batch.map((p) => p.line).join('')));
        await new Promise<void>((resolve, reject) =>
          fs.fdatasync(this.fd, (e) => (e ? reject(e) : resolve())),
        );
        for (const p of batch) p.resolve();
      } catch (err) {
        for (const p of batch) p.reject(err as Error);
      }
    }
    this.flushing = undefined;
  }

  /** Waits for pending appends and closes the file. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    while (this.flushing) await this.flushing;
    this.closed = true;
    fs.closeSync(this.fd);
  }
}

function writeAll(fd: number, buffer: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (offset: number): void => {
      fs.write(fd, buffer, offset, buffer.length - offset, null, (err, written) => {
        if (err) return reject(err);
        if (offset + written < buffer.length) step(offset + written);
        else resolve();
      });
    };
    step(0);
  });
}
