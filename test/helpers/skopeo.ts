// skopeo 1.9 as the reference OCI client: copy, inspect, list-tags, delete.
import type { ParsedManifest } from '../../core/extensions/api.js';
import type { Descriptor } from './images.js';
import { ensureTools, run, type RunResult } from './tools.js';

/**
 * skopeo wants `docker://host/repo:tag`; tests hold `http://127.0.0.1:port`, so accept
 * `http(s)://host/repo:tag` too. Other transports (oci:, dir:, docker://) pass unchanged.
 */
export function skopeoRef(ref: string): string {
  const m = /^https?:\/\/(.+)$/.exec(ref);
  return m ? `docker://${m[1]}` : ref;
}

const isRegistry = (ref: string) => ref.startsWith('docker://');

export interface SkopeoCopyOptions {
  /** `v2s2` converts to Docker schema 2 media types; default keeps the source's. */
  format?: 'oci' | 'v2s2';
  /** `user:password`, sent to whichever side is a registry. */
  creds?: string;
  srcCreds?: string;
  destCreds?: string;
  /** Copy every platform of an index, not just this machine's. */
  all?: boolean;
  /** Default false: test registries speak plain HTTP. */
  destTlsVerify?: boolean;
  srcTlsVerify?: boolean;
  extraArgs?: string[];
  timeoutMs?: number;
  allowFail?: boolean;
}

export async function skopeoCopy(src: string, dst: string, opts: SkopeoCopyOptions = {}): Promise<RunResult> {
  await ensureTools(['skopeo']);
  const from = skopeoRef(src);
  const to = skopeoRef(dst);
  // --insecure-policy: there is no /etc/containers/policy.json on a bare Debian machine.
  const args = ['copy', '--insecure-policy', `--src-tls-verify=${opts.srcTlsVerify ?? false}`,
    `--dest-tls-verify=${opts.destTlsVerify ?? false}`];
  if (opts.format) args.push('--format', opts.format);
  if (opts.all) args.push('--all');
  const srcCreds = opts.srcCreds ?? (isRegistry(from) ? opts.creds : undefined);
  const destCreds = opts.destCreds ?? (isRegistry(to) ? opts.creds : undefined);
  if (srcCreds) args.push('--src-creds', srcCreds);
  if (destCreds) args.push('--dest-creds', destCreds);
  args.push(...(opts.extraArgs ?? []), from, to);
  return run('skopeo', args, { timeoutMs: opts.timeoutMs ?? 300_000, allowFail: opts.allowFail });
}

export interface SkopeoRemoteOptions {
  creds?: string;
  tlsVerify?: boolean;
  extraArgs?: string[];
}

function remoteArgs(opts: SkopeoRemoteOptions): string[] {
  const args = [`--tls-verify=${opts.tlsVerify ?? false}`];
  if (opts.creds) args.push('--creds', opts.creds);
  return [...args, ...(opts.extraArgs ?? [])];
}

/** What `skopeo inspect` prints (for an index: the entry matching this machine's platform). */
export interface SkopeoInspectInfo {
  Name?: string;
  Digest: string;
  RepoTags: string[];
  Created?: string;
  Labels: Record<string, string> | null;
  Architecture: string;
  Os: string;
  Layers: string[];
  LayersData: Array<{ MIMEType: string; Digest: string; Size: number; Annotations: Record<string, string> | null }>;
  Env: string[] | null;
}

/** A manifest or index as JSON (the extension API's shape); fields beyond these stay reachable through `text`. */
export type Manifest = ParsedManifest & { schemaVersion: number; config?: Descriptor; layers?: Descriptor[]; manifests?: Descriptor[]; subject?: Descriptor };

export interface RawManifest {
  /** Bytes as served: hash these for the digest, never re-serialised JSON. */
  text: string;
  manifest: Manifest;
}

export function skopeoInspect(ref: string, opts: SkopeoRemoteOptions & { raw: true }): Promise<RawManifest>;
export function skopeoInspect(ref: string, opts?: SkopeoRemoteOptions & { raw?: false }): Promise<SkopeoInspectInfo>;
export async function skopeoInspect(
  ref: string,
  opts: SkopeoRemoteOptions & { raw?: boolean } = {},
): Promise<RawManifest | SkopeoInspectInfo> {
  await ensureTools(['skopeo']);
  const args = ['inspect', ...remoteArgs(opts), ...(opts.raw ? ['--raw'] : []), skopeoRef(ref)];
  const { stdout } = await run('skopeo', args);
  if (opts.raw) return { text: stdout, manifest: JSON.parse(stdout) as Manifest };
  return JSON.parse(stdout) as SkopeoInspectInfo;
}

/** Tags of `docker://host/repo` (or `http://host/repo`). */
export async function skopeoListTags(repoRef: string, opts: SkopeoRemoteOptions = {}): Promise<string[]> {
  await ensureTools(['skopeo']);
  const { stdout } = await run('skopeo', ['list-tags', ...remoteArgs(opts), skopeoRef(repoRef)]);
  return (JSON.parse(stdout) as { Tags: string[] | null }).Tags ?? [];
}

/** Deletes the manifest `ref` resolves to (skopeo resolves a tag to its digest first). */
export async function skopeoDelete(ref: string, opts: SkopeoRemoteOptions = {}): Promise<void> {
  await ensureTools(['skopeo']);
  await run('skopeo', ['delete', ...remoteArgs(opts), skopeoRef(ref)]);
}
