import { type FSWatcher, watch } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';

const DEBOUNCE_MS = 100;

/**
 * Calls `onChange` (debounced) when `file` changes. Watches the directory, not the file: editors and config
 * management replace files by writing a temp file and renaming it over, which a watch on the old inode misses
 * (Zot's watcher has that fault). Returns a function that stops watching.
 */
export function watchFile(file: string, onChange: () => void): () => void {
  const target = basename(resolve(file));
  let timer: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(resolve(file)), { persistent: false }, (_event, name) => {
      if (name !== null && name !== target) return;
      clearTimeout(timer);
      timer = setTimeout(onChange, DEBOUNCE_MS);
    });
    // A watch error (the directory removed) must not crash the server; the last good content stays in use.
    watcher.on('error', () => watcher?.close());
  } catch {
    return () => undefined;
  }
  return () => {
    clearTimeout(timer);
    watcher?.close();
  };
}
