/**
 * Reading and validating a Zot config file. Like Zot: the format comes from the extension (.json, .yaml, .yml)
 * and a file without a known extension is tried as every format; an empty file, or one without any key, is fatal.
 * Every problem is collected into one {@link ConfigError} so an operator fixes the file in one pass.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import type { z } from 'zod';
import { canonicalizeKeys } from './canonicalize-keys';
import { ConfigError, issueAt } from './config-error';
import { type BerthConfig, rootSchema } from './schema';
import { typeName } from './zot-scalars';

/** Reads, parses and validates a config file. Throws {@link ConfigError}. */
export async function loadConfigFile(file: string): Promise<BerthConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`${file}: cannot read file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`], file);
  }
  return parseConfig(parseText(text, file), file);
}

/** Validates an already-parsed config (a JSON/YAML document). Throws {@link ConfigError}. */
export function parseConfig(raw: unknown, source?: string): BerthConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError([issueAt([], `expected an object of config sections, received ${typeName(raw)}`)], source);
  }
  if (Object.keys(raw).length === 0) throw new ConfigError([issueAt([], 'config has no keys')], source);
  // Colliding keys are reported together with whatever else is wrong (the first spelling is validated).
  const canonical = canonicalizeKeys(raw, rootSchema);
  const parsed = rootSchema.safeParse(canonical.value, { reportInput: true });
  const issues = [...canonical.issues, ...(parsed.success ? [] : parsed.error.issues.flatMap(describeIssue))];
  if (issues.length > 0 || !parsed.success) throw new ConfigError(issues, source);
  return parsed.data;
}

function parseText(text: string, file: string): unknown {
  if (text.replace(/^\uFEFF/, '').trim() === '') throw new ConfigError([`${file}: file is empty`], file);
  const ext = path.extname(file).toLowerCase();
  if (ext === '.json') return parseJson(text, file);
  if (ext === '.yaml' || ext === '.yml') return parseYaml(text, file);
  if (ext === '.toml' || ext === '.hcl' || ext === '.ini' || ext === '.env' || ext === '.properties') {
    throw new ConfigError([`${file}: ${ext.slice(1)} configs are not supported by berth; use JSON or YAML`], file);
  }
  // Unknown or no extension: try JSON, then YAML (Zot tries every format it knows).
  try {
    return parseJson(text, file);
  } catch (jsonError) {
    try {
      return parseYaml(text, file);
    } catch (yamlError) {
      throw /^\s*[{[]/.test(text) ? jsonError : yamlError;
    }
  }
}

function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    const message = (err as Error).message;
    const position = /position (\d+)/.exec(message);
    const offset = position ? Number(position[1]) : text.length;
    const { line, column } = lineAndColumn(text, offset);
    const reason = message.replace(/\s*in JSON at position \d+.*$/, '').replace(/\s*\(line \d+ column \d+\)$/, '');
    throw new ConfigError([`${file}: invalid JSON at line ${line}, column ${column}: ${reason}`], file);
  }
}

function parseYaml(text: string, file: string): unknown {
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const error = doc.errors[0];
  if (error) {
    const at = error.linePos?.[0];
    const where = at ? ` at line ${at.line}, column ${at.col}` : '';
    throw new ConfigError([`${file}: invalid YAML${where}: ${error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`], file);
  }
  const value: unknown = doc.toJS();
  if (value === null || value === undefined) throw new ConfigError([`${file}: file is empty`], file);
  return value;
}

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { line, column: offset - before.lastIndexOf('\n') };
}

/** One zod issue → issue lines in berth's wording (never the offending value, which may be a secret). */
function describeIssue(issue: z.core.$ZodIssue): string[] {
  const at = issue.path;
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((key) => issueAt([...at, key], 'unknown key'));
    case 'invalid_type':
      if (issue.input === undefined) return [issueAt(at, 'required')];
      return [issueAt(at, `expected ${issue.expected}, received ${typeName(issue.input)}`)];
    case 'invalid_value':
      return [issueAt(at, `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`)];
    case 'invalid_union':
      return [issueAt(at, 'value has none of the accepted shapes')];
    case 'too_small':
      return [issueAt(at, `must be at least ${String(issue.minimum)}`)];
    case 'too_big':
      return [issueAt(at, `must be at most ${String(issue.maximum)}`)];
    default:
      return [issueAt(at, issue.message)];
  }
}
