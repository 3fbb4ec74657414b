// A third-party storage driver for the CLI tests: kind "localdisk", a filesystem driver rooted at its own
// `directory` parameter, so a test can see that the registered driver (not storage.rootDirectory) holds the data.
import { defineExtension } from '../../core/extensions/api';
import { createFilesystemDriver } from '../../storage-drivers/filesystem';

export default defineExtension({
  name: 'localdisk',
  apiVersion: 1,
  register(ctx) {
    ctx.storageDrivers.add('localdisk', (o) => createFilesystemDriver({ rootDirectory: String(o.params['directory']), commit: true }));
  },
});
