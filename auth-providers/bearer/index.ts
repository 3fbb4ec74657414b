import { defineExtension } from '../../core/extensions/api';
import { type BearerOptions, createBearerAuthenticator } from './bearer-provider';

/** `http.auth.bearer`: JWTs from a Docker token service, verified against `cert`. */
export default defineExtension({
  name: 'auth.bearer',
  apiVersion: 1,
  register(ctx) {
    ctx.authenticators.add('bearer', (config, logger) => createBearerAuthenticator(config as BearerOptions, logger));
  },
});
