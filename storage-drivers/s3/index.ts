import { defineExtension } from '../../core/extensions/api';
import { parseS3Options } from './options';
import type * as S3Driver from './s3-driver';

export { parseS3Options, type S3Options } from './options';

/**
 * The built-in S3 driver (`storage.storageDriver.name: "s3"`, Zot's keys). `storage.rootDirectory` stays
 * local: it holds the MetaStore and pull-through spools, as in Zot it holds the cache database.
 */
export default defineExtension({
  name: 'storage.s3',
  apiVersion: 1,
  register(ctx) {
    ctx.storageDrivers.add('s3', (o) => {
      const options = parseS3Options(o.params, process.env, o.imageStoreRoot);
      // The AWS SDK is loaded when a store is on S3: it would add about 9 MB to every process on local disks.
      return (require('./s3-driver') as typeof S3Driver).createS3Driver(options);
    });
  },
});
