import { after, before } from 'node:test';
import { runDriverConformance } from '../conformance/conformance';
import { startS3Server, type S3Server } from '../../test/helpers/s3-server';
import { parseS3Options } from './options';
import { createS3Driver } from './s3-driver';

let server: S3Server;
let n = 0;
const BUCKET = 'conformance';

before(async () => {
  server = await startS3Server('fauxqs');
  await server.createBucket(BUCKET);
});
after(() => server?.stop());

// Each test on its own prefix of one bucket. fauxqs has no UploadPartCopy, so copies stay single CopyObjects
// (the threshold at S3's 5 GiB limit); its 11 MiB body limit is above the default 10 MiB chunk size.
runDriverConformance('s3', async () => {
  const driver = createS3Driver(
    parseS3Options(server.driverParams(BUCKET, { rootdirectory: `/run-${process.pid}/t${++n}`, multipartcopythresholdsize: 5 * 1024 ** 3 })),
  );
  return { driver, cleanup: async () => driver.close?.() };
});
