// htpasswd files as the real tools write them: bcrypt from `htpasswd -B`, SHA-crypt from `openssl passwd -5/-6`
// (also with rounds=), other hash kinds refused naming the line, and the file re-read when it changes.
import assert from 'node:assert/strict';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { verifyShaCrypt } from '../../auth-providers/htpasswd/sha-crypt';
import { basicAuth, writeHtpasswd } from '../helpers/auth.js';
import { startBerth, type RunningBerth } from '../helpers/berth.js';
import { cleanupTempDirs, ensureTools, run, sleep, tempDir } from '../helpers/tools.js';

async function loginStatus(berth: RunningBerth, user: string, password: string): Promise<number> {
  const res = await fetch(`${berth.url}/v2/`, { headers: basicAuth(user, password) });
  await res.arrayBuffer();
  return res.status;
}

/** Polls until the login answers `want` (the file watcher is asynchronous); returns the last status. */
async function eventually(berth: RunningBerth, user: string, password: string, want: number): Promise<number> {
  let got = 0;
  for (let i = 0; i < 60 && got !== want; i++) {
    got = await loginStatus(berth, user, password);
    if (got !== want) await sleep(50);
  }
  return got;
}

describe('htpasswd', () => {
  let dir: string;
  before(async () => {
    await ensureTools(['htpasswd', 'openssl']);
    dir = await tempDir('htpasswd');
  });
  after(cleanupTempDirs);

  it('verifies SHA-crypt exactly as openssl writes it', async () => {
    for (const args of [['-5'], ['-6'], ['-5', '-salt', 'saltstring'], ['-6', '-salt', 'x']]) {
      const password = `pw-${args.join('')}-ünïcode`;
      const hash = (await run('openssl', ['passwd', ...args, '-stdin'], { input: `${password}\n` })).stdout.trim();
      assert.ok(verifyShaCrypt(password, hash), `${args.join(' ')}: ${hash}`);
      assert.ok(!verifyShaCrypt(`${password}x`, hash));
    }
    // rounds= from the specification's test vectors (openssl 3.0 cannot set rounds).
    assert.ok(verifyShaCrypt('Hello world!', '$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA'));
    assert.ok(verifyShaCrypt('Hello world!', '$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.'));
  });

  it('logs in bcrypt and SHA-crypt users and refuses wrong passwords', async () => {
    const file = join(dir, 'users');
    await writeHtpasswd(file, [
      { user: 'alice', password: 'alicepw' },
      { user: 'bob', password: 'bobpw', hash: 'sha256' },
      { user: 'carol', password: 'carolpw', hash: 'sha512' },
    ]);
    assert.match(await readFile(file, 'utf8'), /^alice:\$2y\$/); // what htpasswd -B writes
    const berth = await startBerth({ http: { auth: { htpasswd: { path: file } } } });
    try {
      assert.deepEqual(
        [await loginStatus(berth, 'alice', 'alicepw'), await loginStatus(berth, 'bob', 'bobpw'), await loginStatus(berth, 'carol', 'carolpw')],
        [200, 200, 200],
      );
      assert.deepEqual(
        [await loginStatus(berth, 'alice', 'bobpw'), await loginStatus(berth, 'bob', ''), await loginStatus(berth, 'carol', 'CAROLPW')],
        [401, 401, 401],
      );
      const anonymous = await fetch(`${berth.url}/v2/`);
      assert.equal(anonymous.status, 401);
      assert.equal(anonymous.headers.get('www-authenticate'), 'Basic realm="Authorization Required"');
    } finally {
      await berth.stop();
    }
  });

  it('refuses other hash kinds at start-up, naming the key and the line', async () => {
    for (const [flag, kind] of [['-m', 'Apache MD5'], ['-s', 'SHA-1'], ['-p', 'plain text']] as const) {
      const file = join(dir, `bad${flag}`);
      const good = (await run('htpasswd', ['-nbB', 'ok', 'okpw'])).stdout.trim();
      const bad = (await run('htpasswd', ['-nb', flag, 'legacy', 'legacypw'])).stdout.trim();
      await writeFile(file, `# users\n${good}\n${bad}\n`);
      await assert.rejects(startBerth({ http: { auth: { htpasswd: { path: file } } } }), (err: Error) => {
        assert.match(err.message, /http\.auth\.htpasswd/);
        assert.match(err.message, /line 3: user "legacy" has an unsupported hash/);
        assert.ok(err.message.includes(kind), err.message);
        assert.ok(!err.message.includes(bad.split(':')[1]!), 'the hash itself is not echoed');
        return true;
      });
    }
  });

  it('re-reads the file when it changes, also when replaced by a rename, and keeps the old users on a bad file', async () => {
    const file = join(dir, 'live');
    await writeHtpasswd(file, [{ user: 'alice', password: 'alicepw' }]);
    const berth = await startBerth({ http: { auth: { htpasswd: { path: file } } } });
    try {
      assert.equal(await loginStatus(berth, 'dave', 'davepw'), 401);
      await run('htpasswd', ['-bB', file, 'dave', 'davepw']); // in place
      assert.equal(await eventually(berth, 'dave', 'davepw', 200), 200);

      const replacement = join(dir, 'live.new');
      await writeHtpasswd(replacement, [{ user: 'erin', password: 'erinpw' }]);
      await rename(replacement, file); // how config management replaces files
      assert.equal(await eventually(berth, 'erin', 'erinpw', 200), 200);
      assert.equal(await eventually(berth, 'alice', 'alicepw', 401), 401);

      await writeFile(file, 'erin:$apr1$broken\n');
      await sleep(400);
      assert.equal(await loginStatus(berth, 'erin', 'erinpw'), 200);
    } finally {
      await berth.stop();
    }
  });
});
