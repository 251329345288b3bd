import * as fs from 'node:fs';
import * as path from 'node:path';

/** One entry of a task's directory, as Batch's List Files From Task gives it. */
export interface TaskDirEntry {
  /** Path relative to the task directory, `/`-separated (`wd/out/frame_0001.png`). */
  readonly name: string;
  readonly isDirectory: boolean;
  readonly contentLength: number;
  readonly creationTime: Date;
  readonly lastModified: Date;
  /** Unix mode as Batch writes it, e.g. `0o100644`. */
  readonly fileMode: string;
}

function entryOf(name: string, st: fs.Stats): TaskDirEntry {
  return {
    name,
    isDirectory: st.isDirectory(),
    contentLength: st.isDirectory() ? 0 : st.size,
    creationTime: st.birthtimeMs > 0 ? st.birthtime : st.ctime,
    lastModified: st.mtime,
    fileMode: `0o${st.mode.toString(8)}`,
  };
}

/**
 * The files and directories of a task's directory (its own level, or everything under it
 * with `recursive`), sorted by name; empty when the directory is gone. Symbolic links are
 * not followed out of it.
 */
export async function listTaskDir(taskDir: string, recursive: boolean): Promise<TaskDirEntry[]> {
  const out: TaskDirEntry[] = [];
  const walk = async (rel: string): Promise<void> => {
    let names: fs.Dirent[];
    try {
      names = await fs.promises.readdir(path.join(taskDir, rel), { withFileTypes: true });
    } catch {
      return;
    }
    for (const d of names) {
      const name = rel ? `${rel}/${d.name}` : d.name;
      let st: fs.Stats;
      try {
        st = await fs.promises.lstat(path.join(taskDir, name));
      } catch {
        continue; // gone meanwhile
      }
      out.push(entryOf(name, st));
      if (recursive && st.isDirectory()) await walk(name);
    }
  };
  await walk('');
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** One file's or directory's properties; undefined when missing or when the path leaves the directory. */
export async function statTaskDirEntry(taskDir: string, filePath: string): Promise<TaskDirEntry | undefined> {
  const rel = path.posix.normalize(filePath);
  if (path.posix.isAbsolute(rel) || rel === '..' || rel.startsWith('../')) return undefined;
  try {
    return entryOf(rel, await fs.promises.lstat(path.join(taskDir, rel)));
  } catch {
    return undefined;
  }
}
