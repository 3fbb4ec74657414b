import { defineExtension, type ApiKeyRecords, type Authenticator, type AuthRequest, type ApiKeyManager } from '../../core/extensions/api';
import { API_KEY_PREFIX, ApiKeyStore } from './apikey-store';

/** `http.auth.apikey`: `zak_` keys used as the Basic-auth password of the user who made them. */
export function createApiKeyAuthenticator(records: ApiKeyRecords): Authenticator & { keys: ApiKeyManager } {
  const store = new ApiKeyStore(records);
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
    // Authenticators are built once the MetaStore is open, so the factory may use it.
    ctx.authenticators.add('apikey', () => createApiKeyAuthenticator(ctx.metaStore.apiKeys));
  },
});
