import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NODE_FLAGS } from '../../core/node-flags';
import { BERTH_BIN, REPO_ROOT, spawnBerth } from '../helpers/berth-process';
import { cleanupTempDirs, freePort, run, tempDir } from '../helpers/tools';

const berth = (args: string[], cwd?: string) => run(process.execPath, [BERTH_BIN, ...args], { allowFail: true, cwd, timeoutMs: 30_000 });

describe('berth CLI', () => {
  after(cleanupTempDirs);

  it('--help and help print usage and exit 0; no arguments prints usage and exits 2', async () => {
    for (const args of [['--help'], ['help'], ['-h']]) {
      const r = await berth(args);
      assert.equal(r.code, 0, args.join(' '));
      assert.match(r.stdout, /Usage: berth <command>/);
      assert.match(r.stdout, /serve <config>/);
      assert.match(r.stdout, /verify <config>/);
    }
    const none = await berth([]);
    assert.equal(none.code, 2);
  });

  it('--version prints the package version', async () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const args of [['--version'], ['-v'], ['version']]) {
      const r = await berth(args);
      assert.equal(r.code, 0);
      assert.equal(r.stdout.trim(), pkg.version);
    }
  });

  it('the shebang, npm start and spawners run berth with the same V8 flags', () => {
    const shebang = readFileSync(BERTH_BIN, 'utf8').split('\n')[0];
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    for (const flag of NODE_FLAGS) {
      assert.ok(shebang.includes(` ${flag}`), `bin/berth.js shebang has ${flag}`);
      assert.ok(pkg.scripts.start.includes(` ${flag} `), `npm start has ${flag}`);
    }
  });

  it('an unknown command or a missing config file argument exits 2 with a message', async () => {
    const unknown = await berth(['frobnicate']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command "frobnicate"/);
    const missing = await berth(['serve']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /a config file is required/);
  });

  it('verify accepts the example config and prints what serve would run', async () => {
    const r = await berth(['verify', join(REPO_ROOT, 'examples', 'config.json')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /is valid/);
    assert.match(r.stdout, /5000/);
    assert.match(r.stdout, /data/);
  });

  it('verify and serve reject a bad config naming the key, exit 2, and write nothing', async () => {
    const dir = await tempDir('berth-cli-');
    const root = join(dir, 'root');
    const cases: Array<[object, RegExp]> = [
      [{ storage: { rootDirectory: root }, http: { port: '5000', adress: 'x' } }, /http\.adress/],
      [{ storage: { rootDirectory: root, gcDelay: '5 minutes' }, http: { port: '5000' } }, /storage\.gcDelay/],
      [{ storage: { rootDirectory: root, dedupe: 'yes' }, http: { port: '5000' } }, /storage\.dedupe/],
      [{ storage: { rootDirectory: root }, http: { port: '5000' }, log: { level: 'loud' } }, /log\.level/],
      [{ http: { port: '5000' } }, /storage/],
    ];
    for (const [config, key] of cases) {
      const file = join(dir, 'bad.json');
      await writeFile(file, JSON.stringify(config));
      for (const cmd of ['verify', 'serve']) {
        const r = await berth([cmd, file], dir);
        assert.equal(r.code, 2, `${cmd} ${JSON.stringify(config)}: ${r.stderr}`);
        assert.match(r.stderr, key, `${cmd} names the key`);
        assert.equal(existsSync(root), false, 'nothing is written for a rejected config');
      }
    }
    const notJson = join(dir, 'broken.json');
    await writeFile(notJson, '{"storage": {');
    const broken = await berth(['verify', notJson]);
    assert.equal(broken.code, 2);
    assert.ok(broken.stderr.length > 0);
    const absent = await berth(['verify', join(dir, 'absent.json')]);
    assert.equal(absent.code, 2);
  });

  it('verify names each configured key that does not run as accepted, not active in this build', async () => {
    const dir = await tempDir('berth-cli-');
    const file = join(dir, 'c.json');
    await writeFile(file, JSON.stringify({
      storage: { rootDirectory: join(dir, 'root'), gcTimeWindow: '01:00-05:00', maxRepos: 10, retention: { policies: [{ repositories: ['**'], keepTags: [{ mostRecentlyPushedCount: 3 }] }] } },
      http: { port: '5000', ratelimit: { rate: 10 } },
      extensions: { search: { cve: {} }, metrics: {}, sync: { registries: [{ urls: ['https://registry-1.docker.io'], onDemand: true, reqPerSec: 5 }] } },
    }));
    const r = await berth(['verify', file]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n').map((l) => l.trim());
    for (const key of ['http.ratelimit', 'extensions.search.cve', 'extensions.sync.registries[0].reqPerSec']) {
      assert.ok(lines.some((l) => l.startsWith(`${key}: accepted, not active in this build`)), `${key} in:\n${r.stdout}`);
    }
    // What does run is described as running; nothing inactive is.
    assert.ok(lines.includes('retention: 1 policy, every 1h'), r.stdout);
    assert.ok(lines.includes('gc every 1h (blobs older than 1h) within 01:00-05:00 UTC'), r.stdout);
    assert.ok(lines.includes('at most 10 repositories'), r.stdout);
    assert.ok(lines.includes('dedupe on'), r.stdout);
    assert.ok(!lines.some((l) => l.startsWith('storage.maxRepos:')), r.stdout);
    assert.ok(lines.includes('extensions: sync from 1 registry (https://registry-1.docker.io); search; metrics at /metrics'), r.stdout);
    assert.ok(!lines.some((l) => l.startsWith('extensions.metrics:')), r.stdout);
    assert.doesNotMatch(r.stdout, /rate limit per client/);
    assert.ok(!lines.some((l) => /^storage\.(gc|gcTimeWindow|dedupe):/.test(l)), r.stdout);
    assert.ok(!existsSync(join(dir, 'root')), 'verify writes nothing');
  });

  it('a storageDriver berth does not have: verify and serve exit 1 naming the key, and nothing is served or written', async () => {
    const dir = await tempDir('berth-cli-');
    const root = join(dir, 'root');
    const file = join(dir, 'gcs.json');
    await writeFile(file, JSON.stringify({
      storage: { rootDirectory: root, remoteCache: false, storageDriver: { name: 'gcs', bucket: 'zot-storage', keyfile: 'never-printed' } },
      http: { address: '127.0.0.1', port: '0' },
    }));
    const verified = await berth(['verify', file]);
    assert.equal(verified.code, 1, verified.stdout + verified.stderr);
    assert.match(verified.stdout, /is valid/);
    assert.match(verified.stderr, /storage\.storageDriver\.name: "gcs" is not available in this build; berth refuses to serve from the local disk instead/);
    const served = await berth(['serve', file], dir);
    assert.equal(served.code, 1, served.stderr);
    assert.match(served.stderr, /failed to start: storage\.storageDriver\.name: "gcs" is not available in this build/);
    assert.ok(!(verified.stdout + verified.stderr + served.stdout + served.stderr).includes('never-printed'));
    assert.equal(existsSync(root), false, 'the local root was not used instead');

    // A name Zot does not know, with no third-party module that could register it: Zot's rejection, exit 2.
    await writeFile(file, JSON.stringify({ storage: { rootDirectory: root, remoteCache: false, storageDriver: { name: 'localdisk' } } }));
    for (const cmd of ['verify', 'serve']) {
      const r = await berth([cmd, file], dir);
      assert.equal(r.code, 2, `${cmd}: ${r.stderr}`);
      assert.match(r.stderr, /storage\.storageDriver\.name: unsupported storage driver "localdisk"/);
    }
  });

  it('a storageDriver kind registered by a third-party extension is served', async () => {
    const dir = await tempDir('berth-cli-');
    const directory = join(dir, 'driver-data');
    const proc = await spawnBerth({
      storage: { rootDirectory: join(dir, 'root'), remoteCache: false, storageDriver: { name: 'localdisk', directory } },
      extensions: { localdisk: { module: join(__dirname, 'localdisk-driver-extension.js') } },
    });
    const blob = Buffer.from('stored by a registered driver');
    const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
    const put = await fetch(`${proc.url}/v2/team/app/blobs/uploads/?digest=${digest}`, { method: 'POST', body: blob, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(put.status, 201);
    const got = await fetch(`${proc.url}/v2/team/app/blobs/${digest}`);
    assert.equal(Buffer.from(await got.arrayBuffer()).toString(), blob.toString());
    assert.equal(existsSync(join(directory, 'team', 'app', 'blobs', 'sha256', digest.slice(7))), true, 'the registered driver holds the blob');
    await proc.stop();
  });

  it('verify loads third-party modules and checks their slices, as serve would', async () => {
    const dir = await tempDir('berth-cli-');
    const file = join(dir, 'ext.json');
    const hello = join(REPO_ROOT, 'test', 'fixtures', 'extensions', 'hello');
    const write = (extensions: Record<string, unknown>) =>
      writeFile(file, JSON.stringify({ storage: { rootDirectory: join(dir, 'root') }, http: { address: '127.0.0.1', port: '0' }, extensions }));
    await write({ hello: { module: hello, greeting: 'hi' } });
    const ok = await berth(['verify', file]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /hello \(module /);

    await write({ hello: { module: hello, greeting: 5 } });
    const badSlice = await berth(['verify', file]);
    assert.equal(badSlice.code, 1, badSlice.stdout + badSlice.stderr);
    assert.match(badSlice.stderr, /serve would refuse to start[\s\S]*extension hello: invalid configuration: extensions\.hello\.greeting/);

    await write({ ghost: { module: 'berth-extension-ghost' } });
    const missing = await berth(['verify', file]);
    assert.equal(missing.code, 1, missing.stdout + missing.stderr);
    assert.match(missing.stderr, new RegExp(`cannot load module "berth-extension-ghost" \\(extensions\\.ghost\\.module\\): nothing to load at ${dir}`));
    assert.equal(existsSync(join(dir, 'root')), false, 'verify writes nothing');
  });

  it('a redis cacheDriver that cannot be reached: verify accepts it, serve exits 1 naming storage.cacheDriver', async () => {
    const dir = await tempDir('berth-cli-');
    const root = join(dir, 'root');
    const file = join(dir, 'redis.json');
    // A port nothing listens on: the kernel just freed it.
    const port = await freePort();
    await writeFile(file, JSON.stringify({
      storage: { rootDirectory: root, remoteCache: true, cacheDriver: { name: 'redis', url: `redis://user:never-printed@127.0.0.1:${port}`, dial_timeout: '2s' } },
      http: { address: '127.0.0.1', port: '0' },
    }));
    const verified = await berth(['verify', file]);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    assert.match(verified.stdout, /cache and metadata: redis \(remote\)\n/);
    const served = await berth(['serve', file], dir);
    assert.equal(served.code, 1, served.stderr);
    assert.match(served.stderr, new RegExp(`storage\\.cacheDriver: cannot connect to redis at 127\\.0\\.0\\.1:${port}`));
    assert.ok(!(verified.stdout + verified.stderr + served.stdout + served.stderr).includes('never-printed'));
  });

  it('serve creates the root directory, and exits 1 naming storage.rootDirectory when it cannot', async () => {
    const dir = await tempDir('berth-cli-');
    const aFile = join(dir, 'plain-file');
    await writeFile(aFile, 'x');
    const config = join(dir, 'c.json');
    await writeFile(config, JSON.stringify({ storage: { rootDirectory: join(aFile, 'root') }, http: { port: '0' } }));
    const r = await berth(['serve', config], dir);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /storage\.rootDirectory: cannot use/);
    const proc = await spawnBerth({ storage: { rootDirectory: join(dir, 'new', 'root') } });
    assert.equal(existsSync(join(dir, 'new', 'root')), true);
    await proc.stop();
  });

  it('serve accepts a YAML Zot config with mixed-case keys and shuts down cleanly on SIGTERM', async () => {
    const dir = await tempDir('berth-cli-');
    const proc = await spawnBerth({ storage: { rootDirectory: join(dir, 'root') } });
    const res = await fetch(`${proc.url}/v2/`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
    await proc.stop();
    assert.equal(await proc.daemon.exited, 0);

    const yamlFile = join(dir, 'config.yaml');
    await writeFile(yamlFile, `distSpecVersion: 1.1.1\nstorage:\n  RootDirectory: ${join(dir, 'yroot')}\nHTTP:\n  address: 127.0.0.1\n  port: "0"\nlog:\n  level: warn\n`);
    const verified = await berth(['verify', yamlFile]);
    assert.equal(verified.code, 0, verified.stderr);
    assert.match(verified.stdout, /yroot/);
  });
});
