import picomatch from 'picomatch';
import type { SyncRegistryConfig } from './schema';
import { canonicalHost, insideNamespace, isDockerHub, parseUpstreamUrl, repositoryAt, type UpstreamUrl } from './upstream-url';

/** The host as a repository path segment: `127.0.0.1:5000` → `127.0.0.1-5000` (a colon is not allowed in names). */
export function hostPath(host: string): string {
  return canonicalHost(host).replace(/:/g, '-');
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
  /** The upstream repository, relative to the URL's path (the client puts it below the path, adds Docker Hub's `library/`). */
  upstream: string;
  /** Where berth stores it. */
  local: string;
}

/**
 * Zot's name mapping for one `sync.registries` entry, plus berth's `?ns=` routing. Without `ns` the client
 * names the local repository and `content` maps it back to the upstream one (no `content`: the same name).
 * With `ns` the client names the upstream repository: the matching rule's `destination` places it when it
 * has one, else it is stored under `<host>/` so two upstreams' `foo/bar` never collide.
 *
 * A URL path (`https://docker.io/library`) is a namespace on the upstream, as a client pulling `alpine` means
 * `library/alpine` there. Content rules see names without it (as Zot's). An `?ns=` request names the repository
 * as the host holds it, so the entry serves only names below its path, with the path taken off.
 */
export class RegistryRouter {
  readonly host: string;
  readonly #url: UpstreamUrl;
  readonly #dockerHub: boolean;
  readonly #hosts: Set<string>;
  readonly #rules: Array<{ content: Content; match: (name: string) => boolean; literal: string; dest: string }>;

  constructor(reg: Pick<SyncRegistryConfig, 'urls' | 'content'>) {
    const urls = reg.urls.map(parseUpstreamUrl);
    this.#url = urls[0]!;
    this.host = this.#url.host;
    this.#dockerHub = isDockerHub(this.host);
    this.#hosts = new Set(urls.map((u) => canonicalHost(u.host)));
    this.#rules = (reg.content ?? []).map((raw) => {
      // Zot drops a leading "/" from prefix ("/google-containers/*", as lank8s documents it).
      const content = { ...raw, prefix: raw.prefix.replace(/^\/+/, '') };
      return { content, match: picomatch(content.prefix, { dot: true }), literal: literalPrefix(content.prefix), dest: trimSlashes(content.destination ?? '') };
    });
  }

  /** The content rules, prefixes without a leading slash. */
  get rules(): Content[] {
    return this.#rules.map((r) => r.content);
  }

  /** An upstream `_catalog` name as content rules see it (the URL's path taken off); undefined outside the path. */
  fromCatalog(name: string): string | undefined {
    return insideNamespace(this.#url, name);
  }

  servesNs(ns: string): boolean {
    return this.#hosts.has(canonicalHost(ns));
  }

  route(repo: string, ns: string | undefined): Route | undefined {
    if (ns !== undefined) {
      if (!this.servesNs(ns)) return undefined;
      const upstream = insideNamespace(this.#url, repo);
      if (upstream === undefined) return undefined;
      const full = repositoryAt(this.#url, upstream, this.#dockerHub);
      const byHost = `${hostPath(this.host)}/${full}`;
      if (this.#rules.length === 0) return { upstream, local: byHost };
      // Docker Hub: a rule may name `alpine` or `library/alpine`.
      const name = [upstream, full].find((n) => this.#rules.some((r) => r.match(n)));
      if (name === undefined) return undefined;
      const rule = this.#rules.find((r) => r.match(name))!;
      return { upstream, local: rule.dest ? this.localFor(name)! : byHost };
    }
    const upstream = this.upstreamFor(repo);
    return upstream === undefined ? undefined : { upstream, local: repo };
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
