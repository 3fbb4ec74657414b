import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../core/config/load';
import { changesNeedingRestart } from '../../core/config/reload-scope';

const base = {
  storage: { rootDirectory: '/x', gcDelay: '1h', subPaths: { '/a': { rootDirectory: '/y' } } },
  http: { port: '5000', auth: { htpasswd: { path: '/h' } }, accessControl: { repositories: { '**': { defaultPolicy: ['read'] } } } },
  extensions: { scrub: {}, metrics: {} },
};

describe('changesNeedingRestart', () => {
  it('is empty for changes Zot reloads in place', () => {
    const next = structuredClone(base) as Record<string, any>;
    next['storage'].gcDelay = '2h';
    next['storage'].subPaths['/a'].gc = true;
    next['http'].auth.htpasswd.path = '/other';
    next['http'].accessControl.repositories['**'].defaultPolicy = ['read', 'create'];
    next['extensions'].scrub = { interval: '12h' };
    next['extensions'].sync = { registries: [{ urls: ['https://r'] }] };
    assert.deepEqual(changesNeedingRestart(parseConfig(base), parseConfig(next)), []);
  });

  it('cluster members may change without a restart: nothing is proxied, so nothing reads them', () => {
    const one = (member: string) => parseConfig({ ...base, cluster: { members: [member], hashKey: 'loremipsumdolors' } });
    assert.deepEqual(changesNeedingRestart(one('10.0.0.1:5000'), one('10.0.0.2:5000')), []);
  });

  it('names the keys that need a restart', () => {
    const next = structuredClone(base) as Record<string, any>;
    next['storage'].rootDirectory = '/z';
    next['http'].port = '5001';
    next['http'].auth.failDelay = 2;
    next['extensions'].metrics = { prometheus: { path: '/m' } };
    next['storage'].subPaths['/b'] = { rootDirectory: '/w' };
    assert.deepEqual(changesNeedingRestart(parseConfig(base), parseConfig(next)), [
      'storage.rootDirectory',
      'storage.subPaths["/b"]',
      'http.port',
      'http.auth.failDelay',
      'extensions.metrics.prometheus.path',
    ]);
  });
});
