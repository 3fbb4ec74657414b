import type * as HashWasm from 'hash-wasm';
import { newHash } from './digest';

/**
 * The sha256 of an upload's bytes so far, fed chunk by chunk as they stream to storage, so the final PUT
 * verifies the digest without reading the upload back.
 */
export interface RunningDigest {
  update(chunk: Buffer): void;
  /** `sha256:<hex>` of everything fed so far; feeding may go on afterwards. */
  digest(): string;
  /** Whether {@link save} exports a state ({@link portableDigest} continues from it in any process). */
  readonly portable: boolean;
  save(): Uint8Array | undefined;
}

/**
 * node:crypto's hasher: the fastest (SHA-NI; 1,670 MiB/s on the build machine), but its state cannot leave
 * the process. For uploads that one process serves from start to end.
 */
export function localDigest(): RunningDigest {
  const hash = newHash('sha256');
  return {
    update: (chunk) => void hash.update(chunk),
    digest: () => `sha256:${hash.copy().digest('hex')}`,
    portable: false,
    save: () => undefined,
  };
}

// The first byte of a saved state names its format, so a state another version wrote is recognised and
// dropped (the upload is then hashed from storage once, at the PUT) instead of producing a wrong digest.
const FORMAT_HASH_WASM_SHA256 = 1;

/**
 * hash-wasm's SHA-256, whose state can be saved after a chunk and loaded by another replica for the next one
 * (CNCF Distribution saves Go's hash state the same way); with `state`, it continues from a saved one. It is slower than {@link localDigest} (240 against
 * 1,670 MiB/s here), so only uploads that other hosts may continue use it. A state that is not ours (another
 * format, or corrupt) gives undefined.
 */
export async function portableDigest(state?: Uint8Array): Promise<RunningDigest | undefined> {
  // Loaded on a shared MetaStore's first upload: its WebAssembly module is of no use to a single process.
  const { createSHA256 } = require('hash-wasm') as typeof HashWasm;
  const hasher = await createSHA256();
  if (!state) hasher.init();
  else {
    if (state[0] !== FORMAT_HASH_WASM_SHA256) return undefined;
    try {
      hasher.load(state.subarray(1));
    } catch {
      return undefined;
    }
  }
  const save = (): Uint8Array => {
    const inner = hasher.save();
    const out = new Uint8Array(inner.length + 1);
    out[0] = FORMAT_HASH_WASM_SHA256;
    out.set(inner, 1);
    return out;
  };
  return {
    update: (chunk) => void hasher.update(chunk),
    digest: () => {
      // digest() finishes the hasher: keep its state to go on from.
      const inner = hasher.save();
      const hex = hasher.digest('hex');
      hasher.load(inner);
      return `sha256:${hex}`;
    },
    portable: true,
    save,
  };
}
