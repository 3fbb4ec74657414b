/**
 * Conformance of the optional capabilities core uses to share or copy blobs (mount, dedupe): `link`, `copy`
 * and the `fileId` that `stat` may report. A driver without one is skipped for it, never failed.
 */
import assert from 'node:assert/strict';
import type { Check } from './conformance';
import { text } from './driver-io';

const isENOENT = (err: unknown) => (err as { code?: unknown } | null)?.code === 'ENOENT';

export function capabilityTests(check: Check): void {
  check('link shares content, replaces an existing target, and outlives its source', async ({ d, t }) => {
    if (!d.link) return t.skip('link is an optional capability this driver does not offer');
    await d.putContent('ln/src', Buffer.from('shared'));
    await d.link('ln/src', 'ln/dst');
    assert.equal(await text(d, 'ln/dst'), 'shared');
    await d.putContent('ln/other', Buffer.from('other'));
    await d.link('ln/src', 'ln/other');
    assert.equal(await text(d, 'ln/other'), 'shared');
    await d.link('ln/src', 'ln/dst'); // again, onto a name that already shares it
    await d.delete('ln/src');
    assert.equal(await text(d, 'ln/dst'), 'shared');
    await assert.rejects(d.link('ln/ghost', 'ln/x'), isENOENT);
  });

  check('copy makes an independent copy: deleting or replacing the source leaves it intact', async ({ d, t }) => {
    if (!d.copy) return t.skip('copy is an optional capability this driver does not offer');
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
    await d.putContent('cp/src', big);
    await d.copy('cp/src', 'cp/a/b/dst'); // parents are created
    assert.deepEqual(await d.getContent('cp/a/b/dst'), big);
    await d.putContent('cp/src', Buffer.from('replaced'));
    assert.deepEqual(await d.getContent('cp/a/b/dst'), big, 'replacing the source changed the copy');
    await d.copy('cp/src', 'cp/a/b/dst'); // onto an existing target: replaced
    assert.equal(await text(d, 'cp/a/b/dst'), 'replaced');
    await d.delete('cp/src');
    assert.equal(await text(d, 'cp/a/b/dst'), 'replaced', 'deleting the source took the copy');
    await d.putContent('cp/keep', Buffer.from('kept'));
    await assert.rejects(d.copy('cp/ghost', 'cp/keep'), isENOENT);
    assert.equal(await text(d, 'cp/keep'), 'kept', 'a failed copy changed its target');
  });

  check('stat reports one fileId for linked paths and different ones for copies, when it reports any', async ({ d, t }) => {
    await d.putContent('id/src', Buffer.from('identity'));
    const src = await d.stat('id/src');
    if (src?.fileId === undefined) return t.skip('this driver reports no fileId');
    if (d.link) {
      await d.link('id/src', 'id/linked');
      const linked = await d.stat('id/linked');
      assert.equal(linked?.fileId, src.fileId);
      assert.equal(linked?.links, 2);
    }
    if (d.copy) {
      await d.copy('id/src', 'id/copied');
      assert.notEqual((await d.stat('id/copied'))?.fileId, src.fileId);
    }
    await d.putContent('id/src', Buffer.from('replaced'));
    assert.notEqual((await d.stat('id/src'))?.fileId, src.fileId, 'putContent replaces the copy, not its bytes in place');
  });
}
