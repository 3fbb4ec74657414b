/**
 * Bounds for ZRANGE ... BYLEX over a sorted set whose members all have score 0: Redis then compares members
 * with memcmp, which is the byte order of their UTF-8 form that the MetaStore promises.
 */

/** Members sorting strictly after `s`. */
export const lexAfter = (s: string): Buffer => Buffer.concat([Buffer.from('('), Buffer.from(s, 'utf8')]);

/** Members sorting at or after `s`; '-' (the smallest) for ''. */
export const lexFrom = (s: string): Buffer | string => (s === '' ? '-' : Buffer.concat([Buffer.from('['), Buffer.from(s, 'utf8')]));

/** The exclusive upper bound of members starting with `prefix`: its last byte raised ('+' for no prefix). */
export function lexBelow(prefix: string): Buffer | string {
  if (prefix === '') return '+';
  const bytes = Buffer.from(prefix, 'utf8');
  // UTF-8 never contains 0xff, so the last byte can always be raised; the bound need not be valid UTF-8.
  bytes[bytes.length - 1] += 1;
  return Buffer.concat([Buffer.from('('), bytes]);
}

/** A "<version>:<bytes>" value as the kv scripts write it. */
export function packed(b: Buffer): { value: Uint8Array; version: number } {
  const colon = b.indexOf(0x3a);
  return { version: Number(b.subarray(0, colon).toString('latin1')), value: b.subarray(colon + 1) };
}
