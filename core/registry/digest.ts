import { createHash, type Hash } from 'node:crypto';
import { DigestInvalid } from './errors';

// distribution-spec / image-spec descriptor grammar:
//   digest ::= algorithm ":" encoded;  algorithm ::= [a-z0-9]+ ([+._-] [a-z0-9]+)*;  encoded ::= [a-zA-Z0-9=_-]+
const DIGEST_GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const ENCODED = { sha256: /^[a-f0-9]{64}$/, sha512: /^[a-f0-9]{128}$/ } as const;

export type DigestAlgorithm = keyof typeof ENCODED;

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  hex: string;
  digest: string;
}

export function isDigest(value: string): boolean {
  return DIGEST_GRAMMAR.test(value);
}

/** Parses and validates a digest before it touches a path; throws DIGEST_INVALID (400) otherwise. */
export function parseDigest(value: string | undefined): ParsedDigest {
  if (!value || !DIGEST_GRAMMAR.test(value)) throw DigestInvalid({ digest: value ?? null, reason: 'malformed digest' });
  const i = value.indexOf(':');
  const algorithm = value.slice(0, i);
  const hex = value.slice(i + 1);
  // Well-formed but an algorithm we do not compute: the spec's endpoint table allows only 400 here.
  if (!(algorithm in ENCODED)) throw DigestInvalid({ digest: value, reason: `digest algorithm ${algorithm} is not supported` });
  if (!ENCODED[algorithm as DigestAlgorithm].test(hex)) throw DigestInvalid({ digest: value, reason: 'malformed digest' });
  return { algorithm: algorithm as DigestAlgorithm, hex, digest: value };
}

/** The digest a file under `blobs/` is named by, or undefined for a name berth does not compute (skipped by walks). */
export function tryParseDigest(value: string): ParsedDigest | undefined {
  if (!DIGEST_GRAMMAR.test(value)) return undefined;
  try {
    return parseDigest(value);
  } catch {
    return undefined;
  }
}

export function newHash(algorithm: DigestAlgorithm = 'sha256'): Hash {
  return createHash(algorithm);
}

export function digestOf(data: Buffer, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}
