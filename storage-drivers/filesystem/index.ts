import { constants } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { defineExtension } from '../../core/extensions/api';
import { createFilesystemDriver } from './filesystem-driver';

export { createFilesystemDriver, type FilesystemDriverOptions } from './filesystem-driver';

/** The built-in local-disk driver, contributed through the same extension point as third-party drivers. */
export default defineExtension({
  name: 'storage.filesystem',
  apiVersion: 1,
  register(ctx) {
    // Directory fsyncs are always on, whatever Zot's `storage.commit` says: a crash at any instant must not
    // lose a blob or index.json that a client was told is committed.
    ctx.storageDrivers.add('filesystem', async (o) => {
      // As Zot: the root exists from start-up on; a root that cannot be created or written stops start-up.
      try {
        await mkdir(o.rootDirectory, { recursive: true, mode: 0o700 });
        await access(o.rootDirectory, constants.W_OK | constants.R_OK);
      } catch (err) {
        throw new Error(`storage.rootDirectory: cannot use ${o.rootDirectory}: ${(err as Error).message}`);
      }
      return createFilesystemDriver({ rootDirectory: o.rootDirectory, commit: true });
    });
  },
});
