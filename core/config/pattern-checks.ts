/**
 * Checks for the two pattern languages Zot compiles at start-up: doublestar globs (accessControl repositories,
 * retention repositories, sync prefixes) and Go RE2 regexes (tag filters, retention patterns, mTLS SAN pattern).
 * Zot refuses to start on a pattern that does not compile, so berth does too.
 */

/** Mirrors doublestar.ValidatePattern: brackets and braces balanced, no dangling escape. */
export function isValidGlob(pattern: string): boolean {
  let braces = 0;
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '\\') {
      if (i + 1 >= pattern.length) return false;
      i++;
    } else if (ch === '[') {
      const close = findClass(pattern, i + 1);
      if (close < 0) return false;
      i = close;
    } else if (ch === '{') {
      braces++;
    } else if (ch === '}') {
      if (braces === 0) return false;
      braces--;
    }
  }
  return braces === 0;
}

function findClass(pattern: string, from: number): number {
  let i = from;
  if (pattern[i] === '^' || pattern[i] === '!') i++;
  if (pattern[i] === ']') i++; // a leading ']' is literal
  for (; i < pattern.length; i++) {
    if (pattern[i] === '\\') i++;
    else if (pattern[i] === ']') return i;
  }
  return -1;
}

/**
 * Whether a Go regex compiles. JavaScript's engine is a near superset of RE2 syntax; the two RE2 spellings it
 * lacks are translated first: leading inline flags `(?i)` and `(?P<name>` groups.
 */
export function isValidGoRegex(pattern: string): boolean {
  const flags = /^\(\?([imsU]+)\)/.exec(pattern);
  let body = flags ? pattern.slice(flags[0].length) : pattern;
  body = body.replace(/\(\?P</g, '(?<').replace(/\(\?[imsU]+\)/g, '');
  try {
    new RegExp(body, 'u');
    return true;
  } catch {
    try {
      new RegExp(body); // RE2 escapes such as \- are only rejected in unicode mode
      return true;
    } catch {
      return false;
    }
  }
}
