import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import bcrypt from 'bcryptjs';
import type { Logger } from 'pino';
import { watchFile, type Authenticator, type AuthRequest, type Identity } from '../../core/extensions/api';
import { type HtpasswdEntry, parseHtpasswd } from './htpasswd-file';
import { verifyShaCrypt } from './sha-crypt';

export interface HtpasswdOptions {
  path: string;
}

// bcrypt costs tens of ms in JavaScript and clients send credentials with every request: remember successes.
// The key covers the stored hash, so a changed password or removed user never matches a remembered entry.
const VERIFIED_CACHE_SIZE = 1024;

/**
 * Users from an htpasswd file, re-read when the file changes (also when it is replaced by a rename).
 * A file that becomes unreadable or invalid is logged and the previous users stay.
 */
export function createHtpasswdAuthenticator(opts: HtpasswdOptions, logger: Logger): Authenticator {
  let users = load(opts.path);
  const verified = new Set<string>();
  const stopWatching = watchFile(opts.path, () => {
    try {
      users = load(opts.path);
      verified.clear();
      logger.info({ path: opts.path, users: users.size }, 'htpasswd file reloaded');
    } catch (err) {
      logger.error({ path: opts.path, reason: (err as Error).message }, 'failed to reload htpasswd file: keeping the previous users');
    }
  });

  const check = async (entry: HtpasswdEntry, user: string, password: string): Promise<boolean> => {
    const key = createHash('sha256').update(`${user}\0${password}\0${entry.hash}`).digest('hex');
    if (verified.has(key)) return true;
    const ok = entry.kind === 'bcrypt' ? await bcrypt.compare(password, entry.hash) : verifyShaCrypt(password, entry.hash);
    if (ok) {
      if (verified.size >= VERIFIED_CACHE_SIZE) verified.clear();
      verified.add(key);
    }
    return ok;
  };

  return {
    name: 'htpasswd',
    async authenticate(req: AuthRequest): Promise<Identity | { failure: string } | undefined> {
      if (!req.basic) return undefined;
      const entry = users.get(req.basic.username);
      if (!entry) return undefined;
      if (req.basic.password === '' || !(await check(entry, req.basic.username, req.basic.password))) {
        return { failure: 'wrong password' };
      }
      return { user: req.basic.username, groups: [], via: 'htpasswd' };
    },
    async close() {
      stopWatching();
    },
  };
}

function load(path: string): Map<string, HtpasswdEntry> {
  return parseHtpasswd(readFileSync(path, 'utf8'), path);
}
