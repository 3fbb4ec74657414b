/**
 * Parsing an htpasswd file. Only the hash kinds Zot accepts are taken: bcrypt (`htpasswd -B`: `$2y$`, also
 * `$2a$`/`$2b$`) and SHA-crypt (`$5$`/`$6$`). Anything else (MD5 `$apr1$`, `{SHA}`, crypt, plain text) is refused
 * with the line that holds it, because silently skipping a user reads as "wrong password" to the operator.
 */
import { parseShaCrypt } from './sha-crypt';

export type HashKind = 'bcrypt' | 'sha-crypt';

export interface HtpasswdEntry {
  hash: string;
  kind: HashKind;
}

export class HtpasswdError extends Error {
  constructor(readonly file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'HtpasswdError';
  }
}

const BCRYPT = /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/;

export function parseHtpasswd(text: string, file: string): Map<string, HtpasswdEntry> {
  const users = new Map<string, HtpasswdEntry>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const at = `line ${i + 1}`;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new HtpasswdError(file, `${at}: expected "user:hash"`);
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    let kind: HashKind;
    if (BCRYPT.test(hash)) kind = 'bcrypt';
    else if (parseShaCrypt(hash)) kind = 'sha-crypt';
    else throw new HtpasswdError(file, `${at}: user "${user}" has an unsupported hash (${describeHash(hash)}); use bcrypt (htpasswd -B) or SHA-crypt ($5$/$6$)`);
    // htpasswd(1) keeps the first entry of a user; so does Apache when it reads the file.
    if (!users.has(user)) users.set(user, { hash, kind });
  });
  return users;
}

/** Names the hash kind without echoing the hash itself. */
function describeHash(hash: string): string {
  if (hash.startsWith('$apr1$')) return 'Apache MD5 $apr1$';
  if (hash.startsWith('$1$')) return 'MD5-crypt $1$';
  if (hash.startsWith('{SHA}')) return 'SHA-1 {SHA}';
  if (/^\$2[aby]\$/.test(hash)) return 'malformed bcrypt';
  if (/^\$[56]\$/.test(hash)) return 'malformed SHA-crypt';
  if (/^\$[^$]+\$/.test(hash)) return `unknown scheme ${hash.slice(0, hash.indexOf('$', 1) + 1)}`;
  if (/^[./0-9A-Za-z]{13}$/.test(hash)) return 'DES crypt';
  return 'plain text or unknown';
}
