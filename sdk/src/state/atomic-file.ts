import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Writes `data` to `file` so that a reader (or a restart after a crash) sees the old content
 * or the new, never a mix: a temporary file beside it, fsync, then rename. Without `fsync`
 * the write still survives the process being killed, but not the machine losing power.
 */
export function writeFileAtomic(file: string, data: string, options: { fsync?: boolean } = {}): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, data);
    if (options.fsync !== false) fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}
