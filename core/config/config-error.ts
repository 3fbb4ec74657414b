/**
 * The one error type config loading throws. Each issue reads `<full.key.path>: <reason>` with the
 * canonical key spelling, so an operator can find the key whatever case the file used.
 * Issues never carry secret values: callers only ever put key names, types and non-secret values in them.
 */
export class ConfigError extends Error {
  readonly issues: string[];

  constructor(issues: string[], source?: string) {
    const head = source === undefined ? 'invalid config' : `invalid config ${source}`;
    super(`${head}:\n${issues.map((issue) => `  - ${issue}`).join('\n')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/**
 * `['http', 'auth', 'ldap', 'port']` → `http.auth.ldap.port`; array indexes as `[0]` and map keys that are
 * not identifiers (globs, routes) as `["infra/**"]`, since Zot map keys may contain dots.
 */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (typeof segment === 'string' && IDENTIFIER.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(String(segment))}]`;
  }
  return out === '' ? '(root)' : out;
}

/** An issue line for a key path. */
export function issueAt(path: ReadonlyArray<PropertyKey>, reason: string): string {
  return `${formatPath(path)}: ${reason}`;
}
