import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DurationError, formatDuration, parseGoDuration } from '../../core/config/duration';

describe('parseGoDuration', () => {
  it('parses Go duration strings to milliseconds', () => {
    assert.equal(parseGoDuration('90s'), 90_000);
    assert.equal(parseGoDuration('1h30m'), 5_400_000);
    assert.equal(parseGoDuration('500ms'), 500);
    assert.equal(parseGoDuration('0'), 0);
    assert.equal(parseGoDuration('1.5h'), 5_400_000);
    assert.equal(parseGoDuration('-1h'), -3_600_000);
    assert.equal(parseGoDuration('+2m'), 120_000);
    assert.equal(parseGoDuration('1500us'), 1.5);
    assert.equal(parseGoDuration('2µs'), 0.002);
    assert.equal(parseGoDuration('1h1m1s1ms'), 3_661_001);
  });

  it('rejects what Go rejects: no unit, days, spaces, empty', () => {
    for (const bad of ['', '5', '1d', '5 min', '1h 30m', 'h', '.s', '1hh', 'abc', '--1s']) {
      assert.throws(() => parseGoDuration(bad), DurationError, bad);
    }
  });

  it('names the bad input in the message', () => {
    assert.throws(() => parseGoDuration('5 min'), { message: 'invalid duration "5 min"' });
  });
});

describe('formatDuration', () => {
  it('prints compact Go-style durations', () => {
    assert.equal(formatDuration(0), '0s');
    assert.equal(formatDuration(90_000), '1m30s');
    assert.equal(formatDuration(5_400_000), '1h30m');
    assert.equal(formatDuration(500), '500ms');
    assert.equal(formatDuration(-3_600_000), '-1h');
  });
});
