import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { canonicalHost } from './upstream-url';

export interface Credentials {
  username: string;
  password: string;
}

/**
 * Zot's `credentialsFile`: JSON keyed by registry host[:port] without scheme, then (as Zot, for hosts the file
 * does not name) the Docker client's `config.json` (`$DOCKER_CONFIG`, else `~/.docker`): `auths.<host>.auth`,
 * base64 `user:password`. A missing or unreadable file is logged and treated as empty, so anonymous pulls work.
 */
export function loadCredentials(file: string | undefined, logger: Logger, dockerConfigDir = process.env.DOCKER_CONFIG ?? join(homedir(), '.docker')): Map<string, Credentials> {
  const out = new Map<string, Credentials>();
  if (file) {
    try {
      const raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, { username?: unknown; password?: unknown }>;
      for (const [host, c] of Object.entries(raw)) {
        if (typeof c?.username === 'string' && typeof c.password === 'string') out.set(host.toLowerCase(), { username: c.username, password: c.password });
      }
    } catch (err) {
      logger.warn({ file, err }, 'failed to read sync credentialsFile');
    }
  }
  const dockerConfig = join(dockerConfigDir, 'config.json');
  if (!existsSync(dockerConfig)) return out;
  try {
    const raw = JSON.parse(readFileSync(dockerConfig, 'utf8')) as { auths?: Record<string, { auth?: unknown; username?: unknown; password?: unknown }> };
    for (const [key, entry] of Object.entries(raw.auths ?? {})) {
      const host = key.replace(/^[a-z]+:\/\//i, '').split('/')[0]!.toLowerCase(); // "https://index.docker.io/v1/" too
      if (out.has(host)) continue;
      const c = dockerAuth(entry);
      if (c) out.set(host, c);
    }
  } catch (err) {
    logger.warn({ file: dockerConfig, err }, 'failed to read docker config.json');
  }
  return out;
}

function dockerAuth(entry: { auth?: unknown; username?: unknown; password?: unknown }): Credentials | undefined {
  if (typeof entry?.auth === 'string' && entry.auth !== '') {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (typeof entry?.username === 'string' && typeof entry.password === 'string') return { username: entry.username, password: entry.password };
  return undefined;
}

/** The credentials for a host: exact host[:port] first, then Docker Hub's aliases folded together. */
export function credentialsFor(all: Map<string, Credentials>, host: string): Credentials | undefined {
  const h = host.toLowerCase();
  if (all.has(h)) return all.get(h);
  for (const [key, c] of all) if (canonicalHost(key) === canonicalHost(h)) return c;
  return undefined;
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses `Bearer realm="…",service="…",scope="…"` (RFC 7235 auth-params, quoted or not). */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*(\S+)\s*(.*)$/.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  for (const p of m[2]!.matchAll(/([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) {
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
  }
  return { scheme: m[1]!.toLowerCase(), params };
}

export const basicAuth = (c: Credentials) => `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;

interface CachedToken {
  token: string;
  expires: number;
}

// Tokens are reused until shortly before they expire; Docker's default lifetime is 60 s when unstated.
const DEFAULT_TOKEN_SECONDS = 60;
const EXPIRY_MARGIN_MS = 5_000;

/** Bearer tokens per (realm, service, scope), shared by every request of one upstream. */
export class TokenCache {
  readonly #tokens = new Map<string, CachedToken>();
  readonly #pending = new Map<string, Promise<string>>();

  get(key: string): string | undefined {
    const t = this.#tokens.get(key);
    if (t && t.expires > Date.now()) return t.token;
    if (t) this.#tokens.delete(key);
    return undefined;
  }

  /** One token request per key at a time, whatever the fan-in. */
  fetch(key: string, load: () => Promise<{ token: string; expiresIn?: number }>): Promise<string> {
    const running = this.#pending.get(key);
    if (running) return running;
    const p = load()
      .then(({ token, expiresIn }) => {
        const seconds = expiresIn && expiresIn > 0 ? expiresIn : DEFAULT_TOKEN_SECONDS;
        this.#tokens.set(key, { token, expires: Date.now() + seconds * 1000 - EXPIRY_MARGIN_MS });
        return token;
      })
      .finally(() => this.#pending.delete(key));
    this.#pending.set(key, p);
    return p;
  }
}

/** The token endpoint URL for a challenge, with the scope the request needs. */
export function tokenUrl(challenge: Challenge, scope: string | undefined): string {
  const url = new URL(challenge.params.realm!);
  if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
  const s = scope ?? challenge.params.scope;
  if (s) url.searchParams.set('scope', s);
  return url.toString();
}
