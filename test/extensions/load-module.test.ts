import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadExtensionModule } from '../../core/extensions/load-module';
import { cleanupTempDirs, tempDir } from '../helpers/tools';

/** A package in `<project>/node_modules/<name>` with the given package.json fields and files. */
async function writePackage(project: string, name: string, pkg: Record<string, unknown>, files: Record<string, string>): Promise<void> {
  const dir = join(project, 'node_modules', name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', ...pkg }));
  for (const [file, text] of Object.entries(files)) await writeFile(join(dir, file), text);
}

const ext = (name: string) => `{ name: '${name}', apiVersion: 1, register() {} }`;

describe('extensions.<name>.module resolution and loading', () => {
  let project: string;
  let configFile: string;
  before(async () => {
    // The config file sits in a project whose node_modules the test process (cwd: the repository) cannot see.
    project = await tempDir('berth-ext-project-');
    configFile = join(project, 'config.json');
    await writePackage(project, 'cjs-ext', { main: 'index.js' }, { 'index.js': `module.exports = ${ext('cjs')};` });
    await writePackage(project, 'esm-ext', { type: 'module', exports: './index.js' }, { 'index.js': `export default ${ext('esm')};` });
    await writePackage(project, 'esm-tla', { type: 'module', exports: './index.js' }, {
      'index.js': `const name = await Promise.resolve('tla');\nexport default { name, apiVersion: 1, register() {} };`,
    });
    await writePackage(project, 'esm-import-only', { type: 'module', exports: { '.': { types: './index.d.ts', import: './index.js' } } }, {
      'index.js': `export default ${ext('importonly')};`,
    });
    await writePackage(project, '@acme/scoped', { type: 'module', exports: { './ext': { import: './ext.js' } } }, { 'ext.js': `export default ${ext('scoped')};` });
    await writePackage(project, 'broken-dep', { main: 'index.js' }, { 'index.js': `require('not-installed-anywhere');` });
    await writeFile(join(project, 'local.mjs'), `export default ${ext('local')};`);
  });
  after(() => cleanupTempDirs());

  it('loads CommonJS and ES module packages from the config file\'s directory', async () => {
    for (const [specifier, name] of [['cjs-ext', 'cjs'], ['esm-ext', 'esm'], ['esm-tla', 'tla'], ['esm-import-only', 'importonly'], ['@acme/scoped/ext', 'scoped']]) {
      const loaded = await loadExtensionModule(specifier, configFile, name);
      assert.equal(loaded.name, name, specifier);
      assert.equal(loaded.apiVersion, 1, specifier);
    }
  });

  it('loads a path relative to the config file', async () => {
    assert.equal((await loadExtensionModule('./local.mjs', configFile, 'local')).name, 'local');
  });

  it('resolves from the working directory when no config file names a directory', async () => {
    const cwd = process.cwd();
    process.chdir(project);
    try {
      assert.equal((await loadExtensionModule('esm-ext', undefined, 'esm')).name, 'esm');
    } finally {
      process.chdir(cwd);
    }
  });

  it('says what is missing, naming the key', async () => {
    await assert.rejects(loadExtensionModule('no-such-ext', configFile, 'ghost'), (err: Error) => {
      assert.match(err.message, /extension ghost: cannot load module "no-such-ext" \(extensions\.ghost\.module\): nothing to load at /);
      assert.ok(err.message.includes(project), err.message);
      return true;
    });
    await assert.rejects(loadExtensionModule('./nope.js', configFile, 'ghost'), new RegExp(`nothing to load at ${join(project, 'nope.js')}`));
    await assert.rejects(loadExtensionModule('broken-dep', configFile, 'broken'), /broken-dep.*index\.js: Cannot find module 'not-installed-anywhere'/);
    await assert.rejects(loadExtensionModule('@acme/scoped/other', configFile, 'scoped'), /package @acme\/scoped exports nothing at "\.\/other"/);
  });
});
