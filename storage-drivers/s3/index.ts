import { defineExtension } from '../../core/extensions/api';
import { parseS3Options } from './options';
import { createS3Driver } from './s3-driver';

export { createS3Driver } from './s3-driver';
export { parseS3Options, type S3Options } from './options';

/**
 * The built-in S3 driver (`storage.storageDriver.name: "s3"`, Zot's keys). `storage.rootDirectory` stays
 * local: it holds the MetaStore and pull-through spools, as in Zot it holds the cache database.
 */
export default defineExtension({
  name: 'storage.s3',
  apiVersion: 1,
  register(ctx) {
    ctx.storageDrivers.add('s3', (o) => createS3Driver(parseS3Options(o.params, process.env, o.imageStoreRoot)));
  },
});
