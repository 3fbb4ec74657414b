import { readFileSync } from 'node:fs';
import type { SinkConfig } from './schema';

export interface TlsFiles {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/** Reads a file a sink names, once at start-up; one that cannot be read stops start-up naming its key. */
export function readSinkFile(file: string, key: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`${key}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** The sink's `tlsConfig` files (a client pair only when both halves are set, as Zot). `at` is the sink's key. */
export function readTlsFiles(config: SinkConfig, at: string): TlsFiles {
  const { cacertFile, certFile, keyFile } = config.tls;
  return {
    ...(cacertFile ? { ca: readSinkFile(cacertFile, `${at}.tlsConfig.cacertFile`) } : {}),
    ...(certFile && keyFile ? { cert: readSinkFile(certFile, `${at}.tlsConfig.certFile`), key: readSinkFile(keyFile, `${at}.tlsConfig.keyFile`) } : {}),
  };
}
