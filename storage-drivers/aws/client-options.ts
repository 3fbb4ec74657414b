/**
 * What the two AWS-backed built-ins (the S3 driver and the DynamoDB MetaStore) read the same way: a config value
 * as an optional string, and `AWS_CA_BUNDLE`.
 */
import { readFileSync } from 'node:fs';

/** `params[key]` as a string; undefined when absent, null or empty. */
export function optionalString(params: Record<string, unknown>, key: string): string | undefined {
  const v = params[key];
  return v === undefined || v === null || v === '' ? undefined : String(v);
}

/**
 * `AWS_CA_BUNDLE`, as the AWS CLI and the other SDKs read it: the certificates trusted instead of Node's
 * built-in list, for an https agent. The JavaScript SDK ignores the variable, so the clients read it here.
 */
export function caBundle(env: NodeJS.ProcessEnv): { ca?: Buffer } {
  const file = env.AWS_CA_BUNDLE;
  if (!file) return {};
  try {
    return { ca: readFileSync(file) };
  } catch (err) {
    throw new Error(`AWS_CA_BUNDLE: cannot read ${file}: ${(err as Error).message}`);
  }
}
