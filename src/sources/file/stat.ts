/**
 * @module sources/file/stat
 * The file checks the manifest source makes: whether a path is a regular file (missing and
 * not-a-file are the same answer, other failures throw so they are never taken for a deletion),
 * and the signature that tells whether a file changed since it was read.
 */
import { statSync, type Stats } from 'node:fs';
import { stat } from 'node:fs/promises';

export function signature(st: Stats): string {
  return `${st.ino}:${st.size}:${st.mtimeMs}`;
}

/**
 * The file's stats (following symlinks); undefined when it is missing or not a regular file.
 * Other failures (permissions, I/O) throw: they must not be mistaken for a deletion.
 */
export async function statFile(path: string): Promise<Stats | undefined> {
  try {
    const st = await stat(path);
    return st.isFile() ? st : undefined;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
}

/** statFile, synchronously. */
export function statFileNow(path: string): Stats | undefined {
  try {
    const st = statSync(path);
    return st.isFile() ? st : undefined;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
}

export async function folderExists(dir: string): Promise<boolean> {
  try {
    return (await stat(dir)).isDirectory();
  } catch {
    return false;
  }
}
