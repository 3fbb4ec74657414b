import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { BUILD } from '../../core/builtins';
import { ConfigError } from '../../core/config/config-error';
import { loadConfigFile, parseConfig } from '../../core/config/load';
import { describeConfig, startupRefusals, type Build } from '../../core/config/summary';

// Zot's own example configs, copied unchanged (sources in the folder's SOURCES.md).
const dir = path.resolve(__dirname, '../../../test/fixtures/zot-examples');
const files = readdirSync(dir).filter((f) => /\.(json|ya?ml)$/.test(f)).sort();
const build: Build = BUILD;

// Valid Zot configs that berth serve refuses in this build, and the keys it names: a storageDriver not built
// (gcs, azure: serving the local disk instead would split the data) or OpenID login (serving without it would open
// the registry). s3 and the redis and dynamodb caches are built.
const driver = 'storage.storageDriver.name';
const REFUSED: Record<string, string[]> = {
  'config-azure.json': [driver],
  'config-gcs.json': [driver],
  'config-openid-claim-mapping.json': ['http.auth.openid'],
  'config-openid.json': ['http.auth.openid'],
};

describe("Zot's example configs", () => {
  it('the fixture set is complete', () => {
    assert.ok(files.length >= 60, `${files.length} fixtures`);
    for (const name of Object.keys(REFUSED)) assert.ok(files.includes(name), name);
  });

  for (const file of files) {
    it(`${file} is accepted`, async () => {
      let config;
      try {
        config = await loadConfigFile(path.join(dir, file));
      } catch (err) {
        assert.fail(err instanceof ConfigError ? err.issues.join('\n') : (err as Error).message);
      }
      const refusals = startupRefusals(config, build).map((line) => line.split(':')[0]);
      assert.deepEqual(refusals, REFUSED[file] ?? [], 'refused for the expected keys only');
      const lines = describeConfig(config, build);
      assert.match(lines[0]!, /^listen: /);
    });
  }

  it('keys of the newest Zot keep their meaning: trivy severity sources and SBOMs, events source and type prefix', async () => {
    const sbom = await loadConfigFile(path.join(dir, 'config-sbom-trivy.json'));
    assert.deepEqual(sbom.extensions?.search?.cve?.trivy, {
      dbRepository: 'ghcr.io/aquasecurity/trivy-db',
      javaDBRepository: 'ghcr.io/aquasecurity/trivy-java-db',
      vulnSeveritySources: ['auto'],
      sbom: { enable: true, format: 'spdx-json' },
    });
    const cve = await loadConfigFile(path.join(dir, 'config-cve-trivy.json'));
    assert.ok((cve.extensions?.search?.cve?.trivy.vulnSeveritySources.length ?? 0) > 0);
    const events = await loadConfigFile(path.join(dir, 'docs-v2.1.21--events.json'));
    assert.equal(events.extensions?.events?.typePrefix, 'com.example.registry');
    assert.equal(events.extensions?.events?.source, 'https://registry.example.com');
  });

  it('the new keys match case-insensitively, as all of Zot\'s do', () => {
    const c = parseConfig({
      storage: { rootDirectory: '/x' },
      http: { auth: { bearer: { realm: 'https://auth', service: 'reg', cert: '/c.pem', UpstreamTokenEndpoint: { REALM: 'https://up/token', service: 'up', AllowInsecureHTTP: 'true' } } } },
      extensions: { search: { cve: { trivy: { VulnSeveritySources: 'nvd', SBOM: { Enable: true, Format: 'CycloneDX' } } } } },
    });
    assert.deepEqual(c.http.auth.bearer?.upstreamTokenEndpoint, { realm: 'https://up/token', service: 'up', allowInsecureHttp: true });
    assert.deepEqual(c.extensions?.search?.cve?.trivy.vulnSeveritySources, ['nvd']);
    assert.deepEqual(c.extensions?.search?.cve?.trivy.sbom, { enable: true, format: 'cyclonedx' });
  });
});
