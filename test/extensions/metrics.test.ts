// The metrics extension against a real Prometheus: skopeo pushes to berth and pulls from it (directly and
// through a Distribution upstream), Prometheus scrapes with the scraper's credentials, and the PromQL answers
// are the counts a user would expect; promtool finds the text clean; other users' scrapes are refused.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { basicAuth, writeHtpasswd } from '../helpers/auth.js';
import { parseConfig } from '../../core/config/load.js';
import { REPO_ROOT } from '../helpers/berth-process.js';
import { startBerth, type RunningBerth } from '../helpers/berth.js';
import { startDockerRegistry, type DockerRegistry } from '../helpers/docker-registry.js';
import { eventually } from '../helpers/eventually.js';
import { buildOciImage, type BuiltImage } from '../helpers/images.js';
import { promtoolCheckMetrics, startPrometheus, type Prometheus } from '../helpers/prometheus.js';
import { skopeoCopy } from '../helpers/skopeo.js';
import { startUpstreamProxy, type UpstreamProxy } from '../helpers/upstream-proxy.js';
import { cleanupTempDirs, ensureTools, tempDir } from '../helpers/tools.js';

/** The bytes of an image's blobs: its manifest, config and layers. */
async function imageBytes(image: BuiltImage): Promise<number> {
  const manifest = JSON.parse(await readFile(join(image.layoutDir, 'blobs', 'sha256', image.descriptor.digest.slice('sha256:'.length)), 'utf8')) as {
    config: { size: number };
    layers: Array<{ size: number }>;
  };
  return image.descriptor.size + manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0);
}

describe('metrics extension: Prometheus scrapes berth', () => {
  let upstream: DockerRegistry;
  let slow: UpstreamProxy;
  let berth: RunningBerth;
  let prom: Prometheus;
  let image: BuiltImage;
  let work: string;
  const alice = 'alice:alicepw';

  before(async () => {
    await ensureTools(['skopeo', 'umoci', 'docker-registry', 'prometheus', 'promtool']);
    work = await tempDir('metrics');
    upstream = await startDockerRegistry();
    image = await buildOciImage(join(work, 'img'), { tag: 'v1', layers: [{ files: { '/etc/hello': 'metrics\n' } }, { randomBytes: 200_000, seed: 7 }] });
    await skopeoCopy(image.ref, `${upstream.url}/lib/app:v1`);
    // The same upstream behind a throttle (about 1 s for the 200 kB layer), so a second pull can join a fill.
    slow = await startUpstreamProxy(upstream.url, { bytesPerSecond: 200_000 });
    const htpasswd = join(work, 'htpasswd');
    await writeHtpasswd(htpasswd, [{ user: 'alice', password: 'alicepw' }, { user: 'prom', password: 'prompw' }]);
    berth = await startBerth({
      http: {
        auth: { htpasswd: { path: htpasswd } },
        accessControl: {
          repositories: { '**': { policies: [{ users: ['alice'], actions: ['read', 'create', 'update', 'delete'] }] } },
          metrics: { users: ['prom'] },
        },
      },
      extensions: {
        metrics: {},
        sync: {
          registries: [
            { urls: [upstream.url], onDemand: true, content: [{ prefix: '**', destination: '/mirror' }] },
            { urls: [slow.url], onDemand: true, content: [{ prefix: '**', destination: '/slow' }] },
          ],
        },
      },
    });
    await skopeoCopy(image.ref, `${berth.url}/pushed/app:v1`, { creds: alice });
    await skopeoCopy(`${berth.url}/pushed/app:v1`, `dir:${join(work, 'pulled')}`, { creds: alice });
    // Through the upstream twice: the first pull misses and fills, the second is served from the cache.
    await skopeoCopy(`${berth.url}/mirror/lib/app:v1`, `dir:${join(work, 'mirror-1')}`, { creds: alice });
    await skopeoCopy(`${berth.url}/mirror/lib/app:v1`, `dir:${join(work, 'mirror-2')}`, { creds: alice });
    prom = await startPrometheus([
      { job: 'berth', target: berth.host, basicAuth: { username: 'prom', password: 'prompw' } },
      { job: 'berth-alice', target: berth.host, basicAuth: { username: 'alice', password: 'alicepw' } },
      { job: 'berth-anonymous', target: berth.host },
    ]);
  });

  after(async () => {
    await prom?.stop();
    await berth?.stop();
    await slow?.stop();
    await upstream?.stop();
    await cleanupTempDirs();
  });

  /** The value of a PromQL query with one result, once Prometheus has scraped what it counts. */
  async function valueOf(promql: string, expected: (v: number) => boolean = () => true): Promise<number> {
    let last: number | undefined;
    try {
      await eventually(async () => {
        const r = await prom.query(promql);
        last = r.length === 1 ? r[0]!.value : undefined;
        return last !== undefined && expected(last);
      });
    } catch {
      assert.fail(`${promql}: ${String(last)} (results: ${JSON.stringify(await prom.query(promql))})`);
    }
    return last!;
  }

  it("answers PromQL with Zot's per-repository counts and storage", async () => {
    assert.equal(await valueOf('zot_repo_uploads_total{repo="pushed/app"}', (v) => v === 1), 1);
    assert.equal(await valueOf('zot_repo_downloads_total{repo="pushed/app"}', (v) => v === 1), 1);
    const bytes = await imageBytes(image);
    assert.equal(await valueOf('zot_repo_storage_bytes{repo="pushed/app"}', (v) => v === bytes), bytes);
    // The cached copy under the mirror's name is a repository too.
    assert.equal(await valueOf('zot_repo_storage_bytes{repo="mirror/lib/app"}', (v) => v === bytes), bytes);
  });

  it("answers PromQL with Zot's request series", async () => {
    // skopeo's manifest PUT answered 201.
    assert.ok(await valueOf('sum(zot_http_requests_total{method="PUT",code="201"})', (v) => v >= 1) >= 1);
    // Scrapes of the metrics route (answered or refused) are not among them, as in Zot.
    assert.equal((await prom.query('berth_http_request_duration_seconds_count{route="/metrics"}')).length, 0);
    assert.ok(await valueOf('sum(berth_http_request_duration_seconds_count{route="/v2/"})') > 0);
    const gets = await valueOf('sum(zot_http_method_latency_seconds_count{method="GET"})', (v) => v > 0);
    assert.equal(await valueOf('sum(zot_http_method_latency_seconds_bucket{method="GET",le="+Inf"})'), gets);
    assert.equal(await valueOf('count(zot_http_method_latency_seconds_bucket{method="GET"})'), 8); // Zot's 7 buckets and +Inf
    assert.ok(await valueOf('zot_http_repo_latency_seconds_count{repo="pushed/app"}') > 0);
    assert.ok(await valueOf('sum(berth_http_request_duration_seconds_count{route="/v2/*name/manifests/:reference"})') > 0);
    assert.equal(await valueOf(`zot_info{version!=""}`), 0);
  });

  it('answers PromQL with the pull-through counts: one miss, then hits, bytes from upstream and saved', async () => {
    const up = { upstream: upstream.host };
    const sel = (more: string) => `{upstream="${up.upstream}",${more}}`;
    assert.equal(await valueOf(`berth_pull_through_requests_total${sel('kind="manifest",result="miss"')}`), 1);
    assert.equal(await valueOf(`berth_pull_through_requests_total${sel('kind="manifest",result="hit"')}`), 1);
    // Config and two layers: each fetched once, then served from the cache.
    assert.equal(await valueOf(`berth_pull_through_requests_total${sel('kind="blob",result="miss"')}`), 3);
    assert.equal(await valueOf(`berth_pull_through_requests_total${sel('kind="blob",result="hit"')}`), 3);
    const bytes = await imageBytes(image);
    const manifestBytes = image.descriptor.size;
    assert.equal(await valueOf(`berth_pull_through_upstream_bytes_total{upstream="${up.upstream}"}`), bytes);
    assert.equal(await valueOf(`berth_pull_through_saved_bytes_total{upstream="${up.upstream}"}`), bytes - manifestBytes);
    assert.equal(await valueOf(`berth_upstream_up{upstream="${up.upstream}"}`), 1);
    assert.equal(await valueOf(`berth_pull_through_fills_in_flight{upstream="${up.upstream}"}`), 0);
  });

  it('counts a pull that joins a fill under way, and the fill in flight meanwhile', async () => {
    const headers = basicAuth('alice', 'alicepw');
    const m = await fetch(`${berth.url}/v2/slow/lib/app/manifests/v1`, { headers: { ...headers, Accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(m.status, 200);
    const layers = ((await m.json()) as { layers: Array<{ digest: string; size: number }> }).layers;
    const big = layers.reduce((a, b) => (b.size > a.size ? b : a));
    const scrape = async () => (await (await fetch(`${berth.url}/metrics`, { headers: basicAuth('prom', 'prompw') })).text());
    const inFlight = new RegExp(`^berth_pull_through_fills_in_flight\\{upstream="${slow.host}"\\} 1$`, 'm');
    const first = fetch(`${berth.url}/v2/slow/lib/app/blobs/${big.digest}`, { headers }).then(async (r) => ({ status: r.status, bytes: (await r.arrayBuffer()).byteLength }));
    await eventually(async () => inFlight.test(await scrape()), 10_000);
    const second = await fetch(`${berth.url}/v2/slow/lib/app/blobs/${big.digest}`, { headers });
    assert.deepEqual({ status: second.status, bytes: (await second.arrayBuffer()).byteLength }, { status: 200, bytes: big.size });
    assert.deepEqual(await first, { status: 200, bytes: big.size });
    const sel = (result: string) => `berth_pull_through_requests_total{upstream="${slow.host}",kind="blob",result="${result}"}`;
    assert.equal(await valueOf(sel('miss'), (v) => v === 1), 1);
    assert.equal(await valueOf(sel('join'), (v) => v === 1), 1);
    assert.equal(await valueOf(`berth_pull_through_saved_bytes_total{upstream="${slow.host}"}`, (v) => v === big.size), big.size);
    assert.equal(await valueOf(`berth_pull_through_fills_in_flight{upstream="${slow.host}"}`, (v) => v === 0), 0);
  });

  it('is scraped with the listed user and refused to others (403 for a user not listed, 401 anonymous)', async () => {
    assert.equal(await valueOf('up{job="berth"}', (v) => v === 1), 1);
    assert.equal(await valueOf('up{job="berth-alice"}'), 0);
    assert.equal(await valueOf('up{job="berth-anonymous"}'), 0);
    const targets = await prom.targets();
    assert.match(targets.find((t) => t.job === 'berth-alice')!.lastError, /403/);
    assert.match(targets.find((t) => t.job === 'berth-anonymous')!.lastError, /401/);

    const anonymous = await fetch(`${berth.url}/metrics`);
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Basic realm=/);
    const refused = await fetch(`${berth.url}/metrics`, { headers: basicAuth('alice', 'alicepw') });
    assert.equal(refused.status, 403);
    assert.equal(((await refused.json()) as { errors: Array<{ code: string }> }).errors[0]!.code, 'DENIED');
    const wrong = await fetch(`${berth.url}/metrics`, { headers: basicAuth('prom', 'nope') });
    assert.equal(wrong.status, 401);
    // Refusals are counted: a wrong password and policy denials.
    assert.ok(await valueOf('berth_auth_failures_total{reason="credentials"}', (v) => v >= 1) >= 1);
    assert.ok(await valueOf('berth_auth_failures_total{reason="denied"}', (v) => v >= 1) >= 1);
  });

  it('serves text promtool finds clean', async () => {
    const res = await fetch(`${berth.url}/metrics`, { headers: basicAuth('prom', 'prompw') });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    for (const name of ['zot_http_requests_total', 'zot_repo_storage_bytes', 'zot_gc_runs_total', 'berth_pull_through_requests_total', 'berth_sync_images_total', 'process_resident_memory_bytes']) {
      assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
    }
    // Parsed clean; the one lint finding is Zot's own zot_info label names (binaryType, goVersion), which
    // dashboards written for Zot select on, so they stay as Zot spells them.
    const check = await promtoolCheckMetrics(text);
    assert.deepEqual(check.output.split('\n'), Array(2).fill("zot_info label names should be written in 'snake_case' not 'camelCase'"), check.output);
    assert.equal(check.code, 3); // promtool's exit code for lint findings only (1 would be a parse error)
  });

  it('ships a Grafana dashboard whose every query Prometheus accepts, over series berth serves', async () => {
    const dashboard = JSON.parse(await readFile(join(REPO_ROOT, 'docs', 'grafana-dashboard.json'), 'utf8')) as {
      panels: Array<{ title: string; targets?: Array<{ expr: string }> }>;
    };
    const text = await (await fetch(`${berth.url}/metrics`, { headers: basicAuth('prom', 'prompw') })).text();
    const served = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
    assert.ok(exprs.length >= 15, String(exprs.length));
    for (const { panel, expr } of exprs) {
      // Grafana's variables as Grafana would expand them.
      const promql = expr.replaceAll('$upstream', '.*').replaceAll('$__rate_interval', '1m').replaceAll('$__range', '5m');
      await prom.query(promql).catch((err: Error) => assert.fail(`${panel}: ${expr}: ${err.message}`));
      for (const [name] of promql.matchAll(/\b(?:zot|berth)_[a-z_]+/g)) {
        const family = name.replace(/_(bucket|count|sum)$/, '');
        assert.ok(served.has(family), `${panel}: ${family} is not served`);
      }
    }
  });
});

describe('metrics extension: off', () => {
  it('has no metrics route without extensions.metrics, as Zot', async () => {
    const berth = await startBerth({});
    try {
      assert.equal((await fetch(`${berth.url}/metrics`)).status, 404);
    } finally {
      await berth.stop();
    }
  });

  it('serves prometheus.path to anyone without authentication, and only there', async () => {
    const berth = await startBerth({ extensions: { metrics: { prometheus: { path: '/prom/metrics' } } } });
    try {
      assert.equal((await fetch(`${berth.url}/metrics`)).status, 404);
      const res = await fetch(`${berth.url}/prom/metrics`);
      assert.equal(res.status, 200);
      assert.match(await res.text(), /^zot_info\{/m);
    } finally {
      await berth.stop();
    }
  });

  it('refuses a prometheus.path that is not absolute, naming the key', () => {
    const config = (path: string) => ({ storage: { rootDirectory: '/tmp/x' }, http: { port: '0' }, extensions: { metrics: { prometheus: { path } } } });
    assert.throws(() => parseConfig(config('metrics'), 'test'), /extensions\.metrics\.prometheus\.path: must start with "\/"/);
    const empty = parseConfig(config(''), 'test').extensions?.metrics as { prometheus: { path: string } };
    assert.equal(empty.prometheus.path, '/metrics');
  });
});
