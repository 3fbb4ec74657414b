// Small pieces the auth tests share: Basic headers, a tiny OCI artifact seeded through the registry facade,
// htpasswd files made with the real tools, the LDAP config for a test slapd, and timing.
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { RegistryFacade } from '../../core/extensions/api';
import { LDAP_ADMIN, LDAP_SUFFIX, type Slapd } from './slapd.js';
import { ensureTools, run } from './tools.js';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

export function basicAuth(user: string, password: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}

/** A registry request with an optional `Bearer` token: status, challenge and body text. */
export async function bearerRequest(url: string, token?: string, method = 'GET', body?: Buffer) {
  const headers: Record<string, string> = { accept: OCI_MANIFEST, 'content-type': OCI_MANIFEST };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(url, { method, headers, body });
  return { status: res.status, challenge: res.headers.get('www-authenticate'), text: await res.text() };
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Puts a one-layer OCI artifact into `repo` (blobs, then the manifest under `tag`); returns the manifest bytes. */
export async function seedArtifact(registry: RegistryFacade, repo: string, tag: string): Promise<Buffer> {
  const config = Buffer.from('{}');
  const layer = Buffer.from(`layer of ${repo}`);
  for (const blob of [config, layer]) await registry.putBlob(repo, sha256(blob), Readable.from([blob]), blob.length);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer), size: layer.length }],
  }));
  await registry.putManifest(repo, tag, OCI_MANIFEST, manifest);
  return manifest;
}

export interface HtpasswdUser {
  user: string;
  password: string;
  /** bcrypt via `htpasswd -B` (default), or SHA-crypt via `openssl passwd -5/-6`. */
  hash?: 'bcrypt' | 'sha256' | 'sha512';
}

/** Writes an htpasswd file with the real tools (apache2-utils' htpasswd, openssl). */
export async function writeHtpasswd(file: string, users: HtpasswdUser[]): Promise<void> {
  await ensureTools(['htpasswd', 'openssl']);
  const lines: string[] = [];
  for (const u of users) {
    if ((u.hash ?? 'bcrypt') === 'bcrypt') {
      lines.push((await run('htpasswd', ['-nbB', u.user, u.password])).stdout.trim());
    } else {
      const flag = u.hash === 'sha256' ? '-5' : '-6';
      lines.push(`${u.user}:${(await run('openssl', ['passwd', flag, '-stdin'], { input: `${u.password}\n` })).stdout.trim()}`);
    }
  }
  await writeFile(file, lines.join('\n') + '\n');
}

/**
 * `http.auth.ldap` for a test slapd: plain LDAP, users under `ou=people`, groups from `memberOf`, the service
 * account in a credentials file written into `dir`.
 */
export async function ldapAuthConfig(slapd: Slapd, dir: string): Promise<Record<string, unknown>> {
  const credentialsFile = join(dir, 'ldap-credentials.json');
  await writeFile(credentialsFile, JSON.stringify(LDAP_ADMIN));
  return {
    address: '127.0.0.1', port: slapd.port, insecure: true, baseDN: `ou=people,${LDAP_SUFFIX}`,
    userAttribute: 'uid', userGroupAttribute: 'memberOf', credentialsFile,
  };
}

/** Milliseconds `work` took, with its result. */
export async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = performance.now();
  const value = await work();
  return { ms: performance.now() - start, value };
}
