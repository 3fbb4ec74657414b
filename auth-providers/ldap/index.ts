import { defineExtension } from '../../core/extensions/api';
import { createLdapAuthenticator, type LdapOptions } from './ldap-provider';

/** `http.auth.ldap`: service bind, user search, user bind; groups from `userGroupAttribute`. */
export default defineExtension({
  name: 'auth.ldap',
  apiVersion: 1,
  register(ctx) {
    ctx.authenticators.add('ldap', (config, logger) => createLdapAuthenticator(config as LdapOptions, logger));
  },
});
