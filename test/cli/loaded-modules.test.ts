import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnBerth } from '../helpers/berth-process';
import { cleanupTempDirs, tempDir } from '../helpers/tools';

// The clients of features a config does not use (cloud storage, remote MetaStores, LDAP, NATS, GraphQL, the
// portable hash) cost every process megabytes of resident memory: berth loads each one when a config needs it.
const OPTIONAL = ['@aws-sdk/client-s3', '@aws-sdk/s3-request-presigner', '@aws-sdk/client-dynamodb', 'ioredis', 'ldapts', 'nats', 'graphql', 'hash-wasm'];

/** The npm packages a real `berth serve` had loaded when it stopped. */
async function packagesLoadedBy(config: Record<string, unknown>): Promise<Set<string>> {
  const dir = await tempDir('loaded-modules-');
  const preload = join(dir, 'record.js');
  const out = join(dir, 'loaded.json');
  await writeFile(preload, `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify(Object.keys(require.cache))));\n`);
  const berth = await spawnBerth(config, { env: { ...process.env, NODE_OPTIONS: `--require ${preload}` } });
  const res = await fetch(`${berth.url}/v2/_catalog`);
  assert.equal(res.status, 200);
  await res.arrayBuffer();
  await berth.stop();
  const files = JSON.parse(await readFile(out, 'utf8')) as string[];
  return new Set(files.flatMap((f) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(f)?.[1] ?? []));
}

describe('modules loaded by berth serve', () => {
  after(cleanupTempDirs);

  it('a registry on local disk loads no client of a feature it does not use', async () => {
    const loaded = await packagesLoadedBy({});
    assert.ok(loaded.has('koa') && loaded.has('better-sqlite3'), 'the record lists what serve loaded');
    assert.deepEqual(OPTIONAL.filter((p) => loaded.has(p)), []);
  });

  it('a configured feature loads its client, and only its own', async () => {
    const loaded = await packagesLoadedBy({ extensions: { search: { enable: true } } });
    assert.ok(loaded.has('graphql'), 'search serves GraphQL');
    assert.deepEqual(OPTIONAL.filter((p) => p !== 'graphql' && loaded.has(p)), []);
  });
});
