// A closed S3 upload is resumed by another process: all it needs is in the bucket (the `.<name>.open` state
// and the tail object), since fauxqs, like several S3-compatible servers, answers no ListParts; and what
// discards one aborts its multipart upload and removes its tails, also one no state names.
import { HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { after, before, it } from 'node:test';
import { startS3Server, type S3Server } from '../../test/helpers/s3-server';
import { parseS3Options } from './options';
import { createS3Driver } from './s3-driver';

const MiB = 1024 * 1024;
const BUCKET = 'resume';
const REPO = resolve(__dirname, '../../..');
let s3: S3Server;

before(async () => {
  s3 = await startS3Server('fauxqs');
  await s3.createBucket(BUCKET);
});
after(() => s3?.stop());

const bytes = (length: number, seed: number) => Buffer.from(Array.from({ length }, (_, i) => (i * 13 + seed * 7 + (i >> 10)) % 256));

it('another process resumes a closed upload from its state in the bucket and publishes it in one multipart commit', async () => {
  const params = s3.driverParams(BUCKET, { rootdirectory: '/r', chunksize: 5 * MiB });
  const first = bytes(7 * MiB + 1000, 1); // one 5 MiB part, then a tail under S3's minimum part
  const second = bytes(6 * MiB, 2);
  const driver = createS3Driver(parseS3Options(params));
  const w = await driver.writer('repo/.uploads/u1', { append: true });
  await new Promise<void>((done, fail) => w.end(first, (err?: Error | null) => (err ? fail(err) : done())));
  await w.close();
  await driver.close?.();

  const child = `
    const { createS3Driver } = require(${JSON.stringify(resolve(REPO, 'dist/storage-drivers/s3/s3-driver.js'))});
    const { parseS3Options } = require(${JSON.stringify(resolve(REPO, 'dist/storage-drivers/s3/options.js'))});
    (async () => {
      const d = createS3Driver(parseS3Options(${JSON.stringify(params)}));
      const w = await d.writer('repo/.uploads/u1', { append: true });
      const resumedAt = w.size;
      const data = (${bytes.toString()})(${second.length}, 2);
      await new Promise((ok, ko) => w.end(data, (e) => (e ? ko(e) : ok())));
      await w.commit();
      process.stdout.write(JSON.stringify({ resumedAt, size: w.size }));
      await d.close();
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const { stdout } = await promisify(execFile)(process.execPath, ['-e', child], { cwd: REPO });
  assert.deepEqual(JSON.parse(stdout), { resumedAt: first.length, size: first.length + second.length });

  const reader = createS3Driver(parseS3Options(params));
  const got = await reader.getContent('repo/.uploads/u1');
  await reader.close?.();
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  assert.equal(sha(got), sha(Buffer.concat([first, second])));
  const client = s3.client();
  try {
    const head = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'r/r/repo/.uploads/u1' }));
    assert.match(head.ETag ?? '', /-3"$/, 'parts of 5 MiB, 5 MiB and the rest, completed once');
    const listed = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'r/' }));
    assert.deepEqual(listed.Contents?.map((o) => o.Key), ['r/r/repo/.uploads/u1'], 'the state and tail objects are gone');
  } finally {
    client.destroy();
  }
});

it('cancel, and deleting the directory of a closed upload, abort its multipart upload and remove its objects', async () => {
  const params = s3.driverParams(BUCKET, { rootdirectory: '/abort', chunksize: 5 * MiB });
  const driver = createS3Driver(parseS3Options(params));
  const client = s3.client();
  const uploadIdOf = async (path: string) => (JSON.parse((await driver.getContent(path)).toString()) as { uploadId: string }).uploadId;
  const assertAborted = async (key: string, uploadId: string) => {
    await assert.rejects(
      client.send(new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId: uploadId, PartNumber: 9, Body: Buffer.from('late') })),
      (err: Error) => err.name === 'NoSuchUpload',
    );
  };
  try {
    for (const end of ['cancel', 'delete'] as const) {
      const w = await driver.writer(`repo/.uploads/${end}`, { append: true });
      await new Promise<void>((done, fail) => w.end(bytes(6 * MiB, 3), (err?: Error | null) => (err ? fail(err) : done())));
      await w.close();
      const uploadId = await uploadIdOf(`repo/.uploads/.${end}.open`);
      if (end === 'cancel') await w.cancel();
      else await driver.delete('repo/.uploads');
      await assertAborted(`abort/abort/repo/.uploads/${end}`, uploadId);
    }
    const listed = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'abort/' }));
    assert.deepEqual(listed.Contents ?? [], []);
  } finally {
    client.destroy();
    await driver.close?.();
  }
});

it('a tail no state names (its writer was killed between the two puts) goes with the commit, cancel or delete of its upload', async () => {
  const params = s3.driverParams(BUCKET, { rootdirectory: '/orphan', chunksize: 5 * MiB });
  const driver = createS3Driver(parseS3Options(params));
  const client = s3.client();
  const keys = async () => ((await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'orphan/' }))).Contents ?? []).map((o) => o.Key);
  try {
    for (const end of ['commit', 'cancel', 'delete'] as const) {
      // What a killed writer leaves: the tail it put, and no state pointing at it.
      const dir = `${end === 'delete' ? 'other' : 'repo'}/.uploads`;
      await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `orphan/orphan/${dir}/.${end}.open.tail-0123456789ab`, Body: Buffer.from('lost tail') }));
      const w = await driver.writer(`${dir}/${end}`, { append: true });
      assert.equal(w.size, 0, 'the orphan is not taken for content');
      await new Promise<void>((done, fail) => w.end(bytes(1000, 4), (err?: Error | null) => (err ? fail(err) : done())));
      if (end === 'commit') await w.commit();
      else if (end === 'cancel') await w.cancel();
      else {
        await w.close();
        await driver.delete(dir);
      }
    }
    assert.deepEqual(await keys(), ['orphan/orphan/repo/.uploads/commit'], 'only the committed content is left');
  } finally {
    client.destroy();
    await driver.close?.();
  }
});

it('a commit killed after it published leaves committed content: the next append-open refuses it (EEXIST) and removes what the commit left', async () => {
  const params = s3.driverParams(BUCKET, { rootdirectory: '/killed', chunksize: 5 * MiB });
  const client = s3.client();
  const keys = async () => ((await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'killed/' }))).Contents ?? []).map((o) => o.Key);
  const driver = createS3Driver(parseS3Options(params));
  try {
    for (const [name, size] of [['parts', 7 * MiB + 1000], ['small', 1000]] as const) {
      const path = `repo/.uploads/${name}`;
      const w = await driver.writer(path, { append: true });
      await new Promise<void>((done, fail) => w.end(bytes(size, 5), (err?: Error | null) => (err ? fail(err) : done())));
      await w.close();
      // Another process resumes it, commits, and is killed (exit without cleanup) as it removes the state.
      const child = `
        const { Objects } = require(${JSON.stringify(resolve(REPO, 'dist/storage-drivers/s3/objects.js'))});
        const { createS3Driver } = require(${JSON.stringify(resolve(REPO, 'dist/storage-drivers/s3/s3-driver.js'))});
        const { parseS3Options } = require(${JSON.stringify(resolve(REPO, 'dist/storage-drivers/s3/options.js'))});
        const deleteOne = Objects.prototype.deleteOne;
        Objects.prototype.deleteOne = function (p) { return p.endsWith('.open') ? process.exit(9) : deleteOne.call(this, p); };
        (async () => {
          const w = await createS3Driver(parseS3Options(${JSON.stringify(params)})).writer(${JSON.stringify(path)}, { append: true });
          await w.commit();
        })().catch((e) => { console.error(e); process.exit(1); });`;
      await assert.rejects(promisify(execFile)(process.execPath, ['-e', child], { cwd: REPO }), (err: { code?: number }) => err.code === 9);
      assert.deepEqual(await keys(), [`killed/killed/repo/.uploads/.${name}.open`, `killed/killed/${path}`], 'the content and the state');

      await assert.rejects(driver.writer(path, { append: true }), (err: { code?: string }) => err.code === 'EEXIST');
      assert.deepEqual(await keys(), [`killed/killed/${path}`], 'the state is gone, the content kept');
      assert.equal((await driver.stat(path))?.size, size);
      await driver.delete(path);
    }
  } finally {
    client.destroy();
    await driver.close?.();
  }
});
