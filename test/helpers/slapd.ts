// A real OpenLDAP slapd (Debian 2.5) on a free port with its own config, database and seed LDIF, stopped by PID.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startDaemon, waitReady, type Daemon } from './daemon.js';
import { ensureTools, freePort, run, tempDir } from './tools.js';

export const LDAP_SUFFIX = 'dc=example,dc=org';
export const LDAP_ADMIN = { bindDN: `cn=admin,${LDAP_SUFFIX}`, bindPassword: 'adminpw' };

export interface LdapUser {
  uid: string;
  password: string;
  /** groupOfNames the user is a member of (memberOf is maintained by the overlay). */
  groups?: string[];
}

export interface Slapd {
  url: string;
  port: number;
  /** With `tls`: the ldaps:// port (the ldap:// one also offers StartTLS). */
  tlsPort?: number;
  daemon: Daemon;
  stop(): Promise<void>;
}

/** Starts slapd with `ou=people` users and `ou=groups` groupOfNames; memberOf on users comes from the overlay. */
export async function startSlapd(users: LdapUser[], opts: { tls?: { cert: string; key: string } } = {}): Promise<Slapd> {
  await ensureTools(['slapd', 'ldapadd', 'ldapsearch']);
  const dir = await tempDir('slapd');
  await mkdir(join(dir, 'db'));
  const port = await freePort();
  const url = `ldap://127.0.0.1:${port}`;
  const tlsPort = opts.tls ? await freePort() : undefined;
  const conf = [
    ...['core', 'cosine', 'inetorgperson', 'nis'].map((s) => `include /etc/ldap/schema/${s}.schema`),
    'modulepath /usr/lib/ldap',
    'moduleload back_mdb',
    'moduleload memberof',
    `pidfile ${join(dir, 'slapd.pid')}`,
    ...(opts.tls ? [`TLSCertificateFile ${opts.tls.cert}`, `TLSCertificateKeyFile ${opts.tls.key}`] : []),
    'database mdb',
    'maxsize 104857600',
    `suffix "${LDAP_SUFFIX}"`,
    `rootdn "${LDAP_ADMIN.bindDN}"`,
    `rootpw ${LDAP_ADMIN.bindPassword}`,
    `directory ${join(dir, 'db')}`,
    'index objectClass eq',
    'index uid eq',
    'overlay memberof',
    'access to attrs=userPassword by self =xw by anonymous auth by * none',
    'access to * by * read',
    '',
  ].join('\n');
  const confFile = join(dir, 'slapd.conf');
  await writeFile(confFile, conf);
  const listen = tlsPort ? `${url}/ ldaps://127.0.0.1:${tlsPort}/` : `${url}/`;
  const daemon = startDaemon('slapd', 'slapd', ['-d', '0', '-f', confFile, '-h', listen], {
    cwd: dir,
    stdoutFile: join(dir, 'slapd.out'),
    stderrFile: join(dir, 'slapd.err'),
  });
  await waitReady(daemon, () => run('ldapsearch', ['-x', '-H', url, '-b', '', '-s', 'base'], { timeoutMs: 2_000 }));
  const groups = [...new Set(users.flatMap((u) => u.groups ?? []))];
  const entry = (lines: string[]) => lines.join('\n') + '\n';
  const ldif = [
    entry([`dn: ${LDAP_SUFFIX}`, 'objectClass: dcObject', 'objectClass: organization', 'o: Example', 'dc: example']),
    entry([`dn: ou=people,${LDAP_SUFFIX}`, 'objectClass: organizationalUnit', 'ou: people']),
    entry([`dn: ou=groups,${LDAP_SUFFIX}`, 'objectClass: organizationalUnit', 'ou: groups']),
    ...users.map((u) => entry([`dn: uid=${u.uid},ou=people,${LDAP_SUFFIX}`, 'objectClass: inetOrgPerson', `uid: ${u.uid}`,
      `cn: ${u.uid}`, `sn: ${u.uid}`, `userPassword: ${u.password}`])),
    // Groups after users: the overlay writes memberOf on members that already exist.
    ...groups.map((g) => entry([`dn: cn=${g},ou=groups,${LDAP_SUFFIX}`, 'objectClass: groupOfNames', `cn: ${g}`,
      ...users.filter((u) => u.groups?.includes(g)).map((u) => `member: uid=${u.uid},ou=people,${LDAP_SUFFIX}`)])),
  ].join('\n');
  await run('ldapadd', ['-x', '-H', url, '-D', LDAP_ADMIN.bindDN, '-w', LDAP_ADMIN.bindPassword], { input: ldif });
  return { url, port, tlsPort, daemon, stop: () => daemon.stop() };
}
