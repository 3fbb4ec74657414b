import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { NODE_FLAGS } from '../../core/node-flags';
import { pushImage } from '../../core/testkit';
import { REPO_ROOT, spawnBerth, type BerthProcess } from '../helpers/berth-process';
import { eventually } from '../helpers/eventually';
import { cleanupTempDirs, run, tempDir } from '../helpers/tools';

const EXAMPLE = join(REPO_ROOT, 'examples', 'webhook');
const npmOpts = ['--no-audit', '--no-fund', '--prefer-offline'];

/** `npm pack` of a package directory into `dest`; returns the tarball's path. */
async function npmPack(dir: string, dest: string): Promise<string> {
  // --ignore-scripts: prepare would compile berth again; dist is built (npm test compiles first).
  const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dest], { cwd: dir });
  return join(dest, (JSON.parse(stdout) as Array<{ filename: string }>)[0].filename);
}

const versionOf = async (pkgDir: string) => (JSON.parse(await readFile(join(pkgDir, 'package.json'), 'utf8')) as { version: string }).version;

/**
 * better-sqlite3's install script compiles SQLite when no prebuilt binary can be downloaded (minutes here). The
 * checkout's own compiled binding of the same version for the same Node is what that build makes: copy it;
 * with another version, build it for real.
 */
async function installNativeBinding(project: string): Promise<void> {
  const ours = join(REPO_ROOT, 'node_modules', 'better-sqlite3');
  const theirs = join(project, 'node_modules', 'better-sqlite3');
  if ((await versionOf(ours)) === (await versionOf(theirs))) {
    await mkdir(join(theirs, 'build', 'Release'), { recursive: true });
    await copyFile(join(ours, 'build', 'Release', 'better_sqlite3.node'), join(theirs, 'build', 'Release', 'better_sqlite3.node'));
  } else {
    await run('npm', ['rebuild', 'better-sqlite3'], { cwd: project, timeoutMs: 1_200_000 });
  }
}

/** An HTTP receiver standing in for Slack: records each POST body. */
async function startReceiver(): Promise<{ url: string; received: Array<Record<string, any>>; close(): Promise<void> }> {
  const received: Array<Record<string, any>> = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, any>);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/services/T0/B0/secret`,
    received,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('a third-party extension packed, installed from its tarball and named by config', () => {
  let project: string;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let berth: BerthProcess | undefined;
  before(async () => {
    const work = await tempDir('berth-pack-');
    const tarballs = [await npmPack(REPO_ROOT, work), await npmPack(EXAMPLE, work)];
    // A deployment's own project, as a user sets one up: berth and the extension from their tarballs.
    project = join(work, 'deployment');
    await mkdir(project);
    await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'registry-deployment', private: true }));
    await run('npm', ['install', ...npmOpts, '--ignore-scripts', ...tarballs], { cwd: project, timeoutMs: 600_000 });
    await installNativeBinding(project);
    receiver = await startReceiver();
  });
  after(async () => {
    await berth?.stop();
    await receiver?.close();
    await cleanupTempDirs();
  });

  it('installs with berth satisfying the example\'s peer dependency', async () => {
    const ls = await run('npm', ['ls', '--json'], { cwd: project });
    const deps = (JSON.parse(ls.stdout) as { dependencies: Record<string, { version: string }> }).dependencies;
    assert.equal(deps.berth.version, await versionOf(REPO_ROOT));
    assert.equal(deps['berth-extension-webhook'].version, await versionOf(EXAMPLE));
  });

  it('passes the example\'s own tests, written with the installed berth/testkit', async () => {
    // Without NODE_TEST_CONTEXT, which would make the inner runner report to this one instead of its stdout.
    const { NODE_TEST_CONTEXT: _inner, ...env } = process.env;
    const result = await run(process.execPath, ['--test', '--test-reporter=tap', 'node_modules/berth-extension-webhook/test/webhook.test.js'], {
      cwd: project,
      env,
      allowFail: true,
      timeoutMs: 300_000,
    });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /^# pass 5$/m);
  });

  it('serves from the project\'s node_modules with the package named by the config, and the webhook receives a push', async () => {
    berth = await spawnBerth(
      { extensions: { webhook: { module: 'berth-extension-webhook', url: receiver.url } } },
      { bin: join(project, 'node_modules', '.bin', 'berth'), configDir: project },
    );
    const verified = await run(process.execPath, [...NODE_FLAGS, join(project, 'node_modules', '.bin', 'berth'), 'verify', berth.configFile], { allowFail: true });
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    assert.match(verified.stdout, /webhook \(module berth-extension-webhook\)/);
    const image = await pushImage(berth.url, 'team/app', 'v1');
    await eventually(async () => receiver.received.length > 0);
    const [message] = receiver.received;
    assert.match(message.text, /^Pushed team\/app:v1 /);
    assert.equal(message.event.digest, image.digest);
    const outbox = await fetch(`${berth.url}/webhook/outbox`);
    assert.equal(outbox.status, 200);
    assert.deepEqual(await outbox.json(), []);
    // Secrets never reach logs: the URL's path is the Slack token.
    assert.doesNotMatch(await readFile(berth.logFile, 'utf8'), /secret/);
  });

  it('refuses to start, naming the key, when the config names a package the project lacks', async () => {
    const configFile = join(project, 'ghost.json');
    await writeFile(configFile, JSON.stringify({
      storage: { rootDirectory: join(project, 'ghost-root') },
      http: { address: '127.0.0.1', port: '0' },
      extensions: { ghost: { module: 'berth-extension-ghost' } },
    }));
    const result = await run(process.execPath, [...NODE_FLAGS, join(project, 'node_modules', '.bin', 'berth'), 'serve', configFile], { allowFail: true });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /cannot load module "berth-extension-ghost" \(extensions\.ghost\.module\): nothing to load at /);
  });
});
