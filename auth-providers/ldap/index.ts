import { defineExtension } from '../../core/extensions/api';
import type * as LdapProvider from './ldap-provider';

/** `http.auth.ldap`: service bind, user search, user bind; groups from `userGroupAttribute`. */
export default defineExtension({
  name: 'auth.ldap',
  apiVersion: 1,
  register(ctx) {
    // ldapts is loaded when `http.auth.ldap` is configured.
    ctx.authenticators.add('ldap', (config, logger) => {
      const { createLdapAuthenticator } = require('./ldap-provider') as typeof LdapProvider;
      return createLdapAuthenticator(config as LdapProvider.LdapOptions, logger);
    });
  },
});
