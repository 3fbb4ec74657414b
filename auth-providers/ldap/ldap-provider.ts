import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { Client, InvalidCredentialsError } from 'ldapts';
import type { ConnectionOptions } from 'node:tls';
import type { Logger } from 'pino';
import { watchFile, type Authenticator, type AuthRequest, type Identity } from '../../core/extensions/api';

/** `http.auth.ldap` as the Zot schema validates it, plus berth's timing knobs (defaults below). */
export interface LdapOptions {
  address: string;
  port?: number;
  baseDN: string;
  userAttribute: string;
  userFilter?: string;
  userGroupAttribute?: string;
  credentialsFile?: string;
  insecure: boolean;
  startTLS: boolean;
  skipVerify: boolean;
  subtreeSearch: boolean;
  cacert?: string;
  connectTimeoutMs?: number;
  timeoutMs?: number;
  deadlineMs?: number;
  downForMs?: number;
}

// An unreachable or hung server must not stall logins: every attempt is bounded, and after a connection
// failure the server is considered down for a while, so later logins fail at once (and htpasswd ones never wait).
const CONNECT_TIMEOUT_MS = 1_000;
const OPERATION_TIMEOUT_MS = 1_500;
const LOGIN_DEADLINE_MS = 1_800; // a whole login (connect, service bind, search, user bind)
const DOWN_FOR_MS = 15_000;

class LdapUnavailable extends Error {}

export function createLdapAuthenticator(opts: LdapOptions, logger: Logger): Authenticator {
  const connectTimeout = opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
  const timeout = opts.timeoutMs ?? OPERATION_TIMEOUT_MS;
  const downFor = opts.downForMs ?? DOWN_FOR_MS;
  const deadline = opts.deadlineMs ?? LOGIN_DEADLINE_MS;
  const scheme = opts.insecure ? 'ldap' : 'ldaps';
  const url = `${scheme}://${opts.address}:${opts.port ?? (opts.insecure ? 389 : 636)}`;
  const tlsOptions: ConnectionOptions = {
    servername: isIP(opts.address) ? undefined : opts.address, // SNI takes host names only (RFC 6066)
    rejectUnauthorized: !opts.skipVerify,
    ca: opts.cacert ? readFileSync(opts.cacert) : undefined,
  };
  let bindCredentials = opts.credentialsFile ? readCredentials(opts.credentialsFile) : undefined;
  const stopWatching = opts.credentialsFile
    ? watchFile(opts.credentialsFile, () => {
        try {
          bindCredentials = readCredentials(opts.credentialsFile!);
          logger.info({ path: opts.credentialsFile }, 'ldap credentials file reloaded');
        } catch (err) {
          logger.error({ path: opts.credentialsFile, reason: (err as Error).message }, 'failed to reload ldap credentials file: keeping the previous one');
        }
      })
    : () => undefined;
  let downUntil = 0;

  const connect = async (): Promise<Client> => {
    const client = new Client({ url, connectTimeout, timeout, tlsOptions: opts.insecure ? undefined : tlsOptions });
    if (opts.insecure && opts.startTLS) await client.startTLS(tlsOptions);
    return client;
  };

  /** Finds the user's entry with the service account (or anonymously); undefined if there is not exactly one. */
  const lookup = async (username: string): Promise<{ dn: string; groups: string[] } | undefined> => {
    const client = await connect();
    try {
      if (bindCredentials) await client.bind(bindCredentials.bindDN, bindCredentials.bindPassword);
      const filter = `(&(${opts.userAttribute}=${escapeFilterValue(username)})${wrapFilter(opts.userFilter)})`;
      const { searchEntries } = await client.search(opts.baseDN, {
        scope: opts.subtreeSearch ? 'sub' : 'one',
        filter,
        attributes: opts.userGroupAttribute ? [opts.userGroupAttribute] : ['1.1'],
        sizeLimit: 2,
      });
      if (searchEntries.length !== 1) return undefined;
      const entry = searchEntries[0]!;
      const raw = opts.userGroupAttribute ? entry[opts.userGroupAttribute] : undefined;
      return { dn: entry.dn, groups: groupNames(raw) };
    } finally {
      await client.unbind().catch(() => undefined);
    }
  };

  const bindAs = async (dn: string, password: string): Promise<boolean> => {
    const client = await connect();
    try {
      await client.bind(dn, password);
      return true;
    } catch (err) {
      if (err instanceof InvalidCredentialsError) return false;
      throw err;
    } finally {
      await client.unbind().catch(() => undefined);
    }
  };

  const attempt = async (username: string, password: string): Promise<Identity | { failure: string } | undefined> => {
    const user = await lookup(username);
    if (!user) return undefined;
    if (!(await bindAs(user.dn, password))) return { failure: 'wrong password' };
    return { user: username, groups: user.groups, via: 'ldap' };
  };

  return {
    name: 'ldap',
    async authenticate(req: AuthRequest) {
      if (!req.basic) return undefined;
      const { username, password } = req.basic;
      // An empty password is an unauthenticated bind, which LDAP servers report as success (RFC 4513 5.1.2).
      if (username === '' || password === '') return undefined;
      if (Date.now() < downUntil) return { failure: 'ldap server unavailable' };
      try {
        return await withDeadline(attempt(username, password), deadline);
      } catch (err) {
        if (isUnavailable(err)) {
          downUntil = Date.now() + downFor;
          logger.warn({ url, reason: (err as Error).message, retryInMs: downFor }, 'failed to reach ldap server: treating it as down');
        } else {
          logger.warn({ url, reason: (err as Error).message }, 'failed to authenticate against ldap');
        }
        return { failure: 'ldap error' };
      }
    },
    async close() {
      stopWatching();
    },
  };
}

function readCredentials(file: string): { bindDN: string; bindPassword: string } {
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as { bindDN?: unknown; bindPassword?: unknown };
  if (typeof parsed?.bindDN !== 'string' || typeof parsed.bindPassword !== 'string') {
    throw new Error('expected JSON {"bindDN": "...", "bindPassword": "..."}');
  }
  return { bindDN: parsed.bindDN, bindPassword: parsed.bindPassword };
}

/** RFC 4515 escaping, so a username cannot change the search filter. */
export function escapeFilterValue(value: string): string {
  return value.replace(/[\\*()\0]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

function wrapFilter(filter: string | undefined): string {
  if (!filter || filter.trim() === '') return '';
  const f = filter.trim();
  return f.startsWith('(') ? f : `(${f})`;
}

/**
 * Group values as LDAP returns them; a DN (`cn=devs,ou=groups,…`, as memberOf gives) also yields its first RDN
 * value (`devs`), so policies can name groups either way.
 */
function groupNames(raw: unknown): string[] {
  const values = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]).map((v) => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v)));
  const out = new Set<string>();
  for (const v of values) {
    out.add(v);
    const rdn = /^[A-Za-z][\w-]*=((?:[^,\\]|\\.)+)\s*,/.exec(v);
    if (rdn) out.add(rdn[1]!);
  }
  return [...out];
}

function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new LdapUnavailable(`no answer within ${ms} ms`)), ms);
  });
  work.catch(() => undefined); // the loser of the race must not become an unhandled rejection
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

function isUnavailable(err: unknown): boolean {
  if (err instanceof LdapUnavailable) return true;
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|EPIPE)$/.test(code)) return true;
  return /timeout|timed out|connection|socket/i.test((err as Error)?.message ?? '');
}
