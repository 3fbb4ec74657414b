// Zot's scrub table layout (pkg/storage/scrub.go PrintScrubResults), as `berth scrub` prints it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatScrubTable } from '../../extensions/scrub/table';

const row = (imageName: string, tag: string, affectedBlob = '', error = '') =>
  ({ imageName, tag, digest: 'sha256:x', status: affectedBlob ? 'affected' as const : 'ok' as const, affectedBlob, error });

describe('scrub table', () => {
  it('sizes REPOSITORY and TAG to their longest value, STATUS 8, AFFECTED BLOB 64, ERROR to its longest value', () => {
    const blob = 'a'.repeat(64);
    assert.equal(formatScrubTable([row('app', 'v1'), row('team/app', 'latest', blob, 'bad blob digest')]), [
      'REPOSITORY TAG    STATUS   AFFECTED BLOB                                                    ERROR',
      'app        v1     ok',
      `team/app   latest affected ${blob} bad blob digest`,
      '',
    ].join('\n'));
  });

  it('caps REPOSITORY at 32 and TAG at 24 columns; a longer value wraps in its column', () => {
    const repo = `${'r'.repeat(32)}tail`;
    const tag = `${'t'.repeat(24)}end`;
    const lines = formatScrubTable([row(repo, tag)]).split('\n');
    assert.equal(lines[1], `${'r'.repeat(32)} ${'t'.repeat(24)} ok`);
    assert.equal(lines[2], `${'tail'.padEnd(32)} end`);
  });
});
