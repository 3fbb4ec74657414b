import { defineExtension } from '../../core/extensions/api';
import { createHtpasswdAuthenticator, type HtpasswdOptions } from './htpasswd-provider';

/** `http.auth.htpasswd`: users and bcrypt/SHA-crypt hashes from a file. */
export default defineExtension({
  name: 'auth.htpasswd',
  apiVersion: 1,
  register(ctx) {
    ctx.authenticators.add('htpasswd', (config, logger) => createHtpasswdAuthenticator(config as HtpasswdOptions, logger));
  },
});
