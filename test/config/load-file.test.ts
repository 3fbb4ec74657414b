import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../../core/config/config-error';
import { loadConfigFile } from '../../core/config/load';

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'berth-config-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function write(name: string, text: string): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, text);
  return file;
}

async function loadIssues(file: string): Promise<string[]> {
  try {
    await loadConfigFile(file);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.issues;
  }
  assert.fail(`${file} was accepted`);
}

const MINIMAL_YAML = 'storage:\n  rootDirectory: /tmp/zot\nhttp:\n  port: 5000\n';

describe('loadConfigFile', () => {
  it('reads YAML by extension (.yaml and .yml)', async () => {
    for (const name of ['c.yaml', 'c.yml']) {
      const c = await loadConfigFile(await write(name, MINIMAL_YAML));
      assert.equal(c.storage.rootDirectory, '/tmp/zot');
      assert.equal(c.http.port, '5000');
    }
  });

  it('tries JSON then YAML for a file with no or an unknown extension', async () => {
    const json = await loadConfigFile(await write('config', '{"storage":{"rootDirectory":"/a"}}'));
    assert.equal(json.storage.rootDirectory, '/a');
    const yaml = await loadConfigFile(await write('config.conf', MINIMAL_YAML));
    assert.equal(yaml.storage.rootDirectory, '/tmp/zot');
  });

  it('rejects an empty file', async () => {
    const file = await write('empty.json', '  \n');
    assert.deepEqual(await loadIssues(file), [`${file}: file is empty`]);
    const yaml = await write('comments.yaml', '# nothing here\n');
    assert.deepEqual(await loadIssues(yaml), [`${yaml}: file is empty`]);
  });

  it('reports the line of a JSON syntax error', async () => {
    const file = await write('bad.json', '{\n  "storage": {\n    "rootDirectory": "/a"\n    "dedupe": true\n  }\n}\n');
    const [issue] = await loadIssues(file);
    assert.match(issue!, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: invalid JSON at line 4, column \\d+`));
  });

  it('reports the line of a truncated JSON file', async () => {
    const file = await write('short.json', '{\n  "storage": {\n');
    const [issue] = await loadIssues(file);
    assert.match(issue!, /invalid JSON at line 3/);
  });

  it('reports YAML syntax errors with their line, and duplicate keys', async () => {
    const file = await write('bad.yaml', 'storage:\n  rootDirectory: /a\n  rootDirectory: /b\n');
    const [issue] = await loadIssues(file);
    assert.match(issue!, /invalid YAML at line 3/);
  });

  it('reports a missing file', async () => {
    const file = path.join(dir, 'nope.json');
    const [issue] = await loadIssues(file);
    assert.equal(issue, `${file}: cannot read file (ENOENT)`);
  });

  it('validates after parsing, with key paths', async () => {
    const file = await write('invalid.yaml', 'storage:\n  rootDirectory: /a\n  gcDelay: 5 min\n');
    assert.deepEqual(await loadIssues(file), ['storage.gcDelay: invalid duration "5 min"']);
  });
});
