// Docker Hub answers under several names; containerd sends `ns=docker.io`, configs often name registry-1.
const DOCKER_HUB = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);
// The names that are not the API host themselves: containers/image and regclient send API calls for them to
// registry-1.docker.io (docker.io serves a web redirect, not /v2/). registry.hub.docker.com answers /v2/ itself.
const DOCKER_HUB_API_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);
const DOCKER_HUB_API_HOST = 'registry-1.docker.io';

/** A registry host as compared for `?ns=` routing: lower-case, Docker Hub's aliases folded to docker.io. */
export function canonicalHost(host: string): string {
  const h = host.toLowerCase().replace(/:443$/, '');
  return DOCKER_HUB.has(h) ? 'docker.io' : h;
}

export const isDockerHub = (host: string) => canonicalHost(host) === 'docker.io';

/**
 * One entry of a registry's `urls`. A path names a namespace on that upstream (`https://docker.io/library`,
 * `https://ghcr.io/myorg`): every repository name berth asks there goes below it.
 */
export interface UpstreamUrl {
  /** `host[:port]` as configured: what `?ns=`, credentials and logs name. */
  host: string;
  /** Scheme, host and port the Distribution API is called at (Docker Hub's names mapped to its API host). */
  origin: string;
  /** The URL's path without slashes around it (`library`), '' when the URL has none. */
  namespace: string;
}

export function parseUpstreamUrl(raw: string): UpstreamUrl {
  const url = new URL(raw);
  const apiHost = DOCKER_HUB_API_ALIASES.has(url.hostname.toLowerCase()) && (url.port === '' || url.port === '443') ? DOCKER_HUB_API_HOST : url.host;
  return {
    host: url.host,
    origin: `${url.protocol}//${apiHost}`,
    namespace: decodeURIComponent(url.pathname).replace(/^\/+|\/+$/g, ''),
  };
}

/**
 * The repository's name at the upstream: below the URL's namespace, and for Docker Hub a one-segment name gets
 * its implicit `library/` (clients say `alpine`).
 */
export function repositoryAt(url: UpstreamUrl, repo: string, dockerHub: boolean): string {
  const name = url.namespace ? `${url.namespace}/${repo}` : repo;
  return dockerHub && !name.includes('/') ? `library/${name}` : name;
}

/** `repo` relative to the URL's namespace, or undefined when it lies outside it. */
export function insideNamespace(url: UpstreamUrl, repo: string): string | undefined {
  if (!url.namespace) return repo;
  return repo.startsWith(`${url.namespace}/`) ? repo.slice(url.namespace.length + 1) : undefined;
}

/**
 * What a request asks for: `{ repo, path }` is `/v2/<repo at the upstream>/<path>` (repo relative to the URL's
 * namespace); a string is an API path used as is (`/v2/_catalog`, or a `Link: rel="next"` the upstream sent).
 */
export type RequestTarget = string | { repo: string; path: string };

/**
 * The full URL of a request at one of a registry's URLs. A string target (an upstream's `Link`) must stay on
 * that URL's origin: credentials go with every request, and an absolute Link to another host would hand them
 * to it.
 */
export function requestUrl(url: UpstreamUrl, target: RequestTarget, dockerHub: boolean): string {
  if (typeof target === 'string') {
    const resolved = new URL(target, url.origin);
    if (resolved.origin !== new URL(url.origin).origin) throw new Error(`refusing to follow ${resolved.origin}: not the upstream's origin ${url.origin}`);
    return resolved.toString();
  }
  return `${url.origin}/v2/${repositoryAt(url, target.repo, dockerHub)}/${target.path}`;
}
