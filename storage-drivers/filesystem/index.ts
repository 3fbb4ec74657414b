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
    ctx.storageDrivers.add('filesystem', (o) => createFilesystemDriver({ rootDirectory: o.rootDirectory, commit: true }));
  },
});
