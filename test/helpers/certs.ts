// Certificates made with openssl for TLS and mTLS tests: a CA, a server certificate for 127.0.0.1/localhost,
// client certificates, and a second CA whose certificates berth must not trust.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureTools, run } from './tools.js';

export interface KeyPair {
  cert: string;
  key: string;
}

export async function makeCa(dir: string, name: string): Promise<KeyPair> {
  await ensureTools(['openssl']);
  const pair = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', `/CN=${name}`, '-keyout', pair.key, '-out', pair.cert]);
  return pair;
}

/** A certificate signed by `ca`; `san` like `IP:127.0.0.1,DNS:localhost` or `email:a@example.org`. */
export async function makeCert(dir: string, ca: KeyPair, name: string, subject: string, opts: { san?: string; server?: boolean } = {}): Promise<KeyPair> {
  const pair = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  await run('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', subject, '-keyout', pair.key, '-out', csr]);
  const lines = [`extendedKeyUsage = ${opts.server ? 'serverAuth' : 'clientAuth'}`];
  if (opts.san) lines.push(`subjectAltName = ${opts.san}`);
  await writeFile(ext, lines.join('\n') + '\n');
  await run('openssl', ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', pair.cert]);
  return pair;
}
