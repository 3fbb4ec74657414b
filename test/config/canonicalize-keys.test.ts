import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { canonicalizeKeys, lowerCaseKeys } from '../../core/config/canonicalize-keys';
import { rootSchema } from '../../core/config/schema';

describe('canonicalizeKeys', () => {
  it('renames keys through every zod wrapper it relies on', () => {
    const leaf = z.strictObject({ someKey: z.string() });
    const schema = z.strictObject({
      opt: leaf.optional(),
      def: leaf.default({ someKey: 'x' }),
      pre: leaf.prefault({ someKey: 'p' }),
      nul: leaf.nullable(),
      arr: z.array(leaf),
      rec: z.record(z.string(), leaf),
      pipe: z.preprocess((v) => v, leaf),
      transformed: leaf.transform((v) => v),
      uni: z.union([z.array(leaf), leaf]),
      caught: leaf.catch({ someKey: 'c' }),
      ro: leaf.readonly(),
      lazy: z.lazy(() => leaf),
    });
    const k = { SOMEKEY: 'v' };
    const { value, issues } = canonicalizeKeys(
      { OPT: k, Def: k, pre: k, nul: k, arr: [k], rec: { MapKey: k }, pipe: k, transformed: k, uni: [k], caught: k, ro: k, lazy: k },
      schema,
    );
    assert.deepEqual(issues, []);
    const want = { someKey: 'v' };
    assert.deepEqual(value, {
      opt: want, def: want, pre: want, nul: want, arr: [want], rec: { MapKey: want }, pipe: want,
      transformed: want, uni: [want], caught: want, ro: want, lazy: want,
    });
  });

  it('picks the union option that matches the value kind', () => {
    const leaf = z.strictObject({ someKey: z.string() });
    const { value } = canonicalizeKeys({ u: { SomeKey: 'v' } }, z.strictObject({ u: z.union([z.array(leaf), leaf]) }));
    assert.deepEqual(value, { u: { someKey: 'v' } });
  });

  it('keeps free-map keys and unknown keys as written', () => {
    const { value } = canonicalizeKeys(
      { HTTP: { AccessControl: { Repositories: { 'Infra/**': { DefaultPolicy: ['read'] } } }, NotAKey: 1 } },
      rootSchema,
    );
    assert.deepEqual(value, { http: { accessControl: { repositories: { 'Infra/**': { defaultPolicy: ['read'] } } }, NotAKey: 1 } });
  });

  it('lower-cases driver parameter maps, nested keys included', () => {
    const driver = lowerCaseKeys(z.looseObject({ name: z.string() }));
    const { value } = canonicalizeKeys({ d: { Name: 's3', RegionEndpoint: 'x', Nested: { InnerKey: 1 } } }, z.strictObject({ d: driver }));
    assert.deepEqual(value, { d: { name: 's3', regionendpoint: 'x', nested: { innerkey: 1 } } });
  });

  it('folds third-party extension keys only for "module"', () => {
    const { value } = canonicalizeKeys({ Extensions: { MyExt: { Module: 'pkg', SomeOption: 1 }, SEARCH: {} } }, rootSchema);
    assert.deepEqual(value, { extensions: { MyExt: { module: 'pkg', SomeOption: 1 }, search: {} } });
  });

  it('reports keys that collide after folding, naming both', () => {
    const { issues } = canonicalizeKeys({ storage: { rootDirectory: '/a', rootdirectory: '/b' } }, rootSchema);
    assert.equal(issues.length, 1);
    assert.match(issues[0]!, /^storage\.rootDirectory: keys "rootDirectory" and "rootdirectory"/);
  });

  it('reports collisions inside lower-cased driver maps', () => {
    const { issues } = canonicalizeKeys({ storage: { storageDriver: { Bucket: 'a', bucket: 'b' } } }, rootSchema);
    assert.equal(issues.length, 1);
    assert.match(issues[0]!, /^storage\.storageDriver\.bucket: keys "Bucket" and "bucket"/);
  });
});
