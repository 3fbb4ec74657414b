import picomatch from 'picomatch';
import type { SyncRegistryConfig } from '../../core/config/sync-schema';

// Docker Hub answers under several names; containerd sends `ns=docker.io`, configs often name registry-1.
const DOCKER_HUB = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

/** A registry host as compared for `?ns=` routing: lower-case, Docker Hub's aliases folded to docker.io. */
export function canonicalHost(host: string): string {
  const h = host.toLowerCase().replace(/:443$/, '');
  return DOCKER_HUB.has(h) ? 'docker.io' : h;
}

export function hostOfUrl(url: string): string {
  return new URL(url).host;
}

/** The host as a repository path segment: `127.0.0.1:5000` → `127.0.0.1-5000` (a colon is not allowed in names). */
export function hostPath(host: string): string {
  return canonicalHost(host).replace(/:/g, '-');
}

/** Docker Hub keeps official images under `library/`; clients say `alpine`. */
export function upstreamName(host: string, repo: string): string {
  return canonicalHost(host) === 'docker.io' && !repo.includes('/') ? `library/${repo}` : repo;
}

type Content = NonNullable<SyncRegistryConfig['content']>[number];

/** The literal head of a glob (`zot-repo/**` → `zot-repo`), what Zot's stripPrefix removes. */
function literalPrefix(glob: string): string {
  const parts = glob.split('/');
  const i = parts.findIndex((p) => /[*?[{\\]/.test(p));
  return (i < 0 ? parts : parts.slice(0, i)).join('/');
}

const trimSlashes = (s: string) => s.replace(/^\/+|\/+$/g, '');

export interface Route {
  /** The repository name at the upstream (Docker Hub's `library/` added). */
  upstream: string;
  /** Where berth stores it. */
  local: string;
}

/**
 * Zot's name mapping for one `sync.registries` entry, plus berth's `?ns=` routing. Without `ns` the client
 * names the local repository and `content` maps it back to the upstream one (no `content`: the same name).
 * With `ns` the client names the upstream repository: the matching rule's `destination` places it when it
 * has one, else it is stored under `<host>/` so two upstreams' `foo/bar` never collide.
 */
export class RegistryRouter {
  readonly host: string;
  readonly #hosts: Set<string>;
  readonly #rules: Array<{ content: Content; match: (name: string) => boolean; literal: string; dest: string }>;

  constructor(reg: Pick<SyncRegistryConfig, 'urls' | 'content'>) {
    this.host = hostOfUrl(reg.urls[0]!);
    this.#hosts = new Set(reg.urls.map((u) => canonicalHost(hostOfUrl(u))));
    this.#rules = (reg.content ?? []).map((content) => ({
      content,
      match: picomatch(content.prefix, { dot: true }),
      literal: literalPrefix(content.prefix),
      dest: trimSlashes(content.destination ?? ''),
    }));
  }

  get rules(): Content[] {
    return this.#rules.map((r) => r.content);
  }

  servesNs(ns: string): boolean {
    return this.#hosts.has(canonicalHost(ns));
  }

  route(repo: string, ns: string | undefined): Route | undefined {
    if (ns !== undefined) {
      if (!this.servesNs(ns)) return undefined;
      const upstream = upstreamName(this.host, repo);
      if (this.#rules.length === 0) return { upstream, local: `${hostPath(this.host)}/${upstream}` };
      const rule = this.#rules.find((r) => r.match(repo) || r.match(upstream));
      if (!rule) return undefined;
      return { upstream, local: rule.dest ? this.localFor(upstream)! : `${hostPath(this.host)}/${upstream}` };
    }
    const upstream = this.upstreamFor(repo);
    return upstream === undefined ? undefined : { upstream: upstreamName(this.host, upstream), local: repo };
  }

  /** Zot's GetRepoSource: the upstream name of a local repository, or undefined when no rule maps it. */
  upstreamFor(local: string): string | undefined {
    if (this.#rules.length === 0) return local;
    for (const r of this.#rules) {
      let rest = local;
      if (r.dest) {
        if (local === r.dest) rest = '';
        else if (local.startsWith(`${r.dest}/`)) rest = local.slice(r.dest.length + 1);
        else continue;
      }
      const upstream = r.content.stripPrefix ? [r.literal, rest].filter(Boolean).join('/') : rest;
      if (upstream && r.match(upstream)) return upstream;
    }
    return undefined;
  }

  /** Zot's GetRepoDestination: where an upstream repository is stored, or undefined when no rule selects it. */
  localFor(upstream: string): string | undefined {
    if (this.#rules.length === 0) return upstream;
    const r = this.#rules.find((rule) => rule.match(upstream));
    if (!r) return undefined;
    let rest = upstream;
    if (r.content.stripPrefix && r.literal && (upstream === r.literal || upstream.startsWith(`${r.literal}/`))) {
      rest = upstream.slice(r.literal.length).replace(/^\//, '');
    }
    return [r.dest, rest].filter(Boolean).join('/');
  }

  /** True when `local` is this registry's cache (its `<host>/` path or a content destination). */
  owns(local: string): boolean {
    if (local.startsWith(`${hostPath(this.host)}/`)) return true;
    return this.#rules.some((r) => r.dest !== '' && (local === r.dest || local.startsWith(`${r.dest}/`)));
  }
}
