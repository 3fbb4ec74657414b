/**
 * SHA-crypt (`$5$` SHA-256, `$6$` SHA-512) as specified by Ulrich Drepper and written by glibc's crypt(3),
 * `openssl passwd -5/-6` and `mkpasswd`. Node has no crypt(3), and recent Zot accepts these hashes.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const DEFAULT_ROUNDS = 5000;
const MIN_ROUNDS = 1000;
const MAX_ROUNDS = 999_999_999;

// The spec's byte permutation for the final encoding: groups of three bytes, four characters each.
const ORDER_256 = [
  [0, 10, 20], [21, 1, 11], [12, 22, 2], [3, 13, 23], [24, 4, 14],
  [15, 25, 5], [6, 16, 26], [27, 7, 17], [18, 28, 8], [9, 19, 29],
];
const ORDER_512 = [
  [0, 21, 42], [22, 43, 1], [44, 2, 23], [3, 24, 45], [25, 46, 4], [47, 5, 26], [6, 27, 48],
  [28, 49, 7], [50, 8, 29], [9, 30, 51], [31, 52, 10], [53, 11, 32], [12, 33, 54], [34, 55, 13],
  [56, 14, 35], [15, 36, 57], [37, 58, 16], [59, 17, 38], [18, 39, 60], [40, 61, 19], [62, 20, 41],
];

export interface ShaCryptHash {
  algorithm: 'sha256' | 'sha512';
  rounds: number;
  roundsCustom: boolean;
  salt: string;
}

/** Parses `$5$[rounds=N$]salt$hash`; undefined when the string is not SHA-crypt. */
export function parseShaCrypt(encoded: string): ShaCryptHash | undefined {
  const m = /^\$([56])\$(?:rounds=(\d+)\$)?([^$]{0,16})\$[./0-9A-Za-z]+$/.exec(encoded);
  if (!m) return undefined;
  const rounds = m[2] === undefined ? DEFAULT_ROUNDS : Math.min(MAX_ROUNDS, Math.max(MIN_ROUNDS, Number(m[2])));
  return { algorithm: m[1] === '5' ? 'sha256' : 'sha512', rounds, roundsCustom: m[2] !== undefined, salt: m[3]! };
}

/** Computes the full `$5$…`/`$6$…` string for `password` with the parameters of `spec`. */
export function shaCrypt(password: string, spec: ShaCryptHash): string {
  const { algorithm, rounds, salt: saltText } = spec;
  const P = Buffer.from(password, 'utf8');
  const S = Buffer.from(saltText, 'utf8');
  const H = (...parts: Buffer[]) => {
    const h = createHash(algorithm);
    for (const p of parts) h.update(p);
    return h.digest();
  };
  const repeatTo = (block: Buffer, len: number) => {
    const out = Buffer.alloc(len);
    for (let i = 0; i < len; i += block.length) block.copy(out, i, 0, Math.min(block.length, len - i));
    return out;
  };
  const B = H(P, S, P);
  const a = createHash(algorithm).update(P).update(S).update(repeatTo(B, P.length));
  for (let n = P.length; n > 0; n >>= 1) a.update(n & 1 ? B : P);
  const A = a.digest();
  const pBytes = repeatTo(H(...Array<Buffer>(P.length).fill(P)), P.length);
  const sBytes = repeatTo(H(...Array<Buffer>(16 + A[0]!).fill(S)), S.length);
  let C = A;
  for (let i = 0; i < rounds; i++) {
    const h = createHash(algorithm);
    h.update(i & 1 ? pBytes : C);
    if (i % 3 !== 0) h.update(sBytes);
    if (i % 7 !== 0) h.update(pBytes);
    h.update(i & 1 ? C : pBytes);
    C = h.digest();
  }
  const encode = (b2: number, b1: number, b0: number, n: number) => {
    let w = (b2 << 16) | (b1 << 8) | b0;
    let out = '';
    for (let i = 0; i < n; i++, w >>= 6) out += ITOA64[w & 0x3f];
    return out;
  };
  let hash = '';
  for (const [x, y, z] of algorithm === 'sha256' ? ORDER_256 : ORDER_512) hash += encode(C[x!]!, C[y!]!, C[z!]!, 4);
  hash += algorithm === 'sha256' ? encode(0, C[31]!, C[30]!, 3) : encode(0, 0, C[63]!, 2);
  const prefix = algorithm === 'sha256' ? '$5$' : '$6$';
  return `${prefix}${spec.roundsCustom ? `rounds=${rounds}$` : ''}${saltText}$${hash}`;
}

/** Constant-time check of `password` against a SHA-crypt string. */
export function verifyShaCrypt(password: string, encoded: string): boolean {
  const spec = parseShaCrypt(encoded);
  if (!spec) return false;
  const got = Buffer.from(shaCrypt(password, spec));
  const want = Buffer.from(encoded);
  return got.length === want.length && timingSafeEqual(got, want);
}
