import { defineExtension } from '../../core/extensions/api';
import { createMtlsAuthenticator, type MtlsOptions } from './mtls-provider';

/** Client certificates verified against `http.tls.cacert` (`http.auth.mtls` picks the identity attribute). */
export default defineExtension({
  name: 'auth.mtls',
  apiVersion: 1,
  register(ctx) {
    ctx.authenticators.add('mtls', (config) => createMtlsAuthenticator((config ?? {}) as MtlsOptions));
  },
});
