import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../../core/config/config-error';
import { loadConfigFile } from '../../core/config/load';

// Zot's own example configs, copied unchanged (sources in the folder's SOURCES.md).
const dir = path.resolve(__dirname, '../../../test/fixtures/zot-examples');
const files = readdirSync(dir).filter((f) => /\.(json|ya?ml)$/.test(f)).sort();

describe("Zot's example configs", () => {
  it('the fixture set is complete', () => {
    assert.ok(files.length >= 60, `${files.length} fixtures`);
  });

  for (const file of files) {
    it(`${file} is accepted`, async () => {
      let config;
      try {
        config = await loadConfigFile(path.join(dir, file));
      } catch (err) {
        assert.fail(err instanceof ConfigError ? err.issues.join('\n') : (err as Error).message);
      }
      assert.ok(config.storage);
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
});
