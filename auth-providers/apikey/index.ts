import { join } from 'node:path';
import { defineExtension, type Authenticator, type AuthRequest } from '../../core/extensions/api';
import type { ApiKeyManager } from '../../core/auth/apikey-routes';
import { API_KEY_PREFIX, ApiKeyStore } from './apikey-store';

/** What the core passes this factory: the storage root, where the key file lives. */
export interface ApiKeyOptions {
  rootDirectory: string;
}

/** The key file, relative to the root directory; `_berth` can never be a repository name. */
export const API_KEY_FILE = join('_berth', 'apikeys.json');

/** `http.auth.apikey`: `zak_` keys used as the Basic-auth password of the user who made them. */
export function createApiKeyAuthenticator(opts: ApiKeyOptions): Authenticator & { keys: ApiKeyManager } {
  const store = new ApiKeyStore(join(opts.rootDirectory, API_KEY_FILE));
  return {
    name: 'apikey',
    keys: store,
    async authenticate(req: AuthRequest) {
      if (!req.basic?.password.startsWith(API_KEY_PREFIX)) return undefined;
      const found = await store.verify(req.basic.username, req.basic.password);
      return found ? { user: req.basic.username, groups: found.groups, via: 'apikey' } : { failure: 'unknown or expired api key' };
    },
  };
}

export default defineExtension({
  name: 'auth.apikey',
  apiVersion: 1,
  register(ctx) {
    ctx.authenticators.add('apikey', (config) => createApiKeyAuthenticator(config as ApiKeyOptions));
  },
});
