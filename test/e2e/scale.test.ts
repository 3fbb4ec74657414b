// berth at scale, as a real process over real HTTP on a generated root (test/helpers/repo-root.ts): each
// repository holds a small image tagged `latest`, in Zot's layout. What a user sees, not how fast:
// - `/v2/` and `_catalog` answer while the background reconcile still runs, and pages then (the root walked in
//   catalog order, as it was never indexed) are exact: every name once, in order, across nested repositories and
//   names around the '/' vs '-' vs '.' vs '_' ordering edge;
// - after it, paging with `n`/`last` returns every name exactly once, in order, with correct Link headers;
// - tag list and manifest GET of random repositories work;
// - memory is bounded: repeated full catalog walks do not grow RSS;
// - a restart on the reconciled root answers exact pages from the index while its own reconcile runs.
// 20k repositories: enough that the reconcile lasts seconds on 2 cores (so "while it runs" is observed with a
// wide margin) and a walk is 200 pages of 100, small enough that the file stays well under a minute. The 100k
// figures and the timing targets are bench/catalog-scale.ts's.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { spawnBerth, type BerthProcess } from '../helpers/berth-process';
import { memStatus } from '../helpers/proc-status';
import { GENERATED_TAG, OCI_MANIFEST, generateRepoRoot, generatedImage, generatedRepo, generatedRootDir } from '../helpers/repo-root';
import { cleanupTempDirs } from '../helpers/tools';

const N = 20_000;
const NAMES = Array.from({ length: N }, (_, i) => generatedRepo(i));
/**
 * Repositories beside the generated ones where a walk in directory order and catalog order part: a repository
 * that also holds repositories, names that sort between it and its subtree ('-' and '.' sort before '/', '_'
 * and digits after), one nested in a generated repository, two in a group directory (`scale/g001` itself).
 */
const EDGES = [
  'edge', 'edge/a', 'edge/a/b', 'edge/a/b-c', 'edge/a-b', 'edge/a-b/c', 'edge/a.b', 'edge/a_b', 'edge-x', 'edge.x',
  'edge0', 'edge_x', 'edgedir/x', 'edgedir-y', 'scale/g001', 'scale/g001-x', 'scale/g001.x', 'scale/g001_x',
  'scale/g001/r001000/nested', 'zeta',
];
const ALL = [...NAMES, ...EDGES].sort();
/** What a page of `n` after `last` must hold. */
const expectedPage = (n: number, last: string) => ALL.filter((repo) => repo > last).slice(0, n);

/** A repository as Zot leaves it (oci-layout, an empty index.json, blobs/, .uploads/) at `repo`, beside what is there. */
function placeRepo(root: string, repo: string): void {
  const dir = join(root, repo);
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  mkdirSync(join(dir, '.uploads'), { recursive: true });
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(dir, 'index.json'), '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}');
}
/** Full walks after the first one, and how much RSS may move over them (GC timing, allocator slack). */
const WALKS = 30;
const RSS_MARGIN = 8 * 2 ** 20;

/** Whether berth logged the end of its reconcile (read to know the phase a request fell in, not asserted on). */
function reconcileLogged(berth: BerthProcess): boolean {
  return readFileSync(berth.logFile, 'utf8').split('\n').some((l) => l.includes('"catalog reconciled"'));
}

async function reconcileEnded(berth: BerthProcess): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (!reconcileLogged(berth)) {
    if (Date.now() > deadline) throw new Error('the reconcile did not end within 120 s');
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Page {
  repos: string[];
  link: string | null;
}

async function page(berth: BerthProcess, query: string): Promise<Page> {
  const res = await fetch(`${berth.url}/v2/_catalog${query}`);
  assert.equal(res.status, 200, `_catalog${query}`);
  const body = (await res.json()) as { repositories: string[] };
  return { repos: body.repositories, link: res.headers.get('link') };
}

/** Every page from `?n=<n>`, following Link rel="next"; checks each Link against the page it ends. */
async function walk(berth: BerthProcess, n: number): Promise<string[]> {
  const all: string[] = [];
  for (let query: string | undefined = `?n=${n}`; query !== undefined; ) {
    const { repos, link } = await page(berth, query);
    all.push(...repos);
    if (link === null) break;
    assert.equal(repos.length, n, `a page with a next link is full (${query})`);
    assert.equal(link, `</v2/_catalog?n=${n}&last=${encodeURIComponent(repos[repos.length - 1]!)}>; rel="next"`);
    query = /^<\/v2\/_catalog(\?[^>]*)>/.exec(link)![1];
  }
  return all;
}

describe(`berth at scale: ${N} repositories, a real process`, () => {
  let root: { dir: string; remove: () => Promise<void> };
  let rootDirectory: string;
  let berth: BerthProcess | undefined;

  before(async () => {
    root = await generatedRootDir('test-scale');
    rootDirectory = join(root.dir, 'root');
    generateRepoRoot(rootDirectory, N, { image: true });
    for (const repo of EDGES) placeRepo(rootDirectory, repo);
    // Not repositories: a directory with index.json alone, a file, berth's own directory name under a repository.
    mkdirSync(join(rootDirectory, 'edge', 'half'), { recursive: true });
    writeFileSync(join(rootDirectory, 'edge', 'half', 'index.json'), '{}');
    writeFileSync(join(rootDirectory, 'edgefile'), 'x');
    placeRepo(rootDirectory, 'edge/_hidden');
  });
  after(async () => {
    await berth?.stop();
    await root?.remove();
    await cleanupTempDirs();
  });

  it('answers /v2/ and _catalog while the background reconcile still runs', async () => {
    berth = await spawnBerth({ storage: { rootDirectory } });
    const base = await fetch(`${berth.url}/v2/`);
    assert.equal(base.status, 200);
    await base.arrayBuffer();
    assert.equal(reconcileLogged(berth), false, `premise: ${N} repositories take longer to reconcile than berth takes to answer`);
    // Partial or whole (this is a root no reconcile indexed yet, so the walk answers), never an error.
    const first = await page(berth, '?n=100');
    assert.ok(first.repos.length <= 100);
    assert.deepEqual(first.repos, [...first.repos].sort());
    for (const repo of first.repos) assert.ok(ALL.includes(repo), repo);
  });

  it('during that first-ever reconcile, pages are exact: every name once, in order, with Link headers', async () => {
    // From the start, by Link, across the nested names and up into the generated ones, in several page sizes.
    for (const n of [1, 2, 3, 7]) {
      const seen: string[] = [];
      for (let query: string | undefined = `?n=${n}`; seen.length < 40; ) {
        const { repos, link } = await page(berth!, query);
        assert.equal(repos.length, n, query);
        seen.push(...repos);
        assert.equal(link, `</v2/_catalog?n=${n}&last=${encodeURIComponent(repos[n - 1]!)}>; rel="next"`);
        query = /^<\/v2\/_catalog(\?[^>]*)>/.exec(link!)![1];
      }
      assert.deepEqual(seen, ALL.slice(0, seen.length), `pages of ${n}`);
    }
    // After `last` values that are repositories, directories that are not, and strings that are neither.
    const lasts = [
      ...EDGES, 'edge/', 'edge/a/', 'edge-', 'edge/half', 'edge/_hidden', 'edgd', 'edgefile',
      'scale', 'scale/', 'scale/g000', generatedRepo(999), 'scale/g001/', 'scale/g001/r001000', 'scale/g001/r001000/', generatedRepo(1999),
      generatedRepo(N / 2 - 1), generatedRepo(N - 101), generatedRepo(N - 1), 'zeta', 'zz',
    ];
    for (const last of lasts) {
      for (const n of [1, 5, 100]) {
        const got = await page(berth!, `?n=${n}&last=${encodeURIComponent(last)}`);
        const want = expectedPage(n + 1, last);
        assert.deepEqual(got.repos, want.slice(0, n), `n=${n}&last=${last}`);
        assert.equal(got.link !== null, want.length > n, `Link for n=${n}&last=${last}`);
      }
    }
    assert.equal(reconcileLogged(berth!), false, 'premise: the first reconcile was still running');
  });

  it('after the reconcile, pages with n and last return every name once, in order, with Link headers', async () => {
    await reconcileEnded(berth!);
    assert.deepEqual(await walk(berth!, 100), ALL);
    const middle = await page(berth!, `?n=100&last=${encodeURIComponent(NAMES[N / 2 - 1]!)}`);
    assert.deepEqual(middle.repos, expectedPage(100, NAMES[N / 2 - 1]!));
    const last = await page(berth!, `?n=100&last=${encodeURIComponent(ALL[ALL.length - 101]!)}`);
    assert.deepEqual(last, { repos: ALL.slice(-100), link: null });
  });

  it('tag list and manifest GET of random repositories work', async () => {
    for (let i = 0; i < 20; i++) {
      const repo = NAMES[Math.floor(Math.random() * N)]!;
      const tags = await fetch(`${berth!.url}/v2/${repo}/tags/list`);
      assert.equal(tags.status, 200, repo);
      assert.deepEqual(await tags.json(), { name: repo, tags: [GENERATED_TAG] });
      const { manifest } = generatedImage(repo);
      const res = await fetch(`${berth!.url}/v2/${repo}/manifests/${GENERATED_TAG}`, { headers: { accept: OCI_MANIFEST } });
      assert.equal(res.status, 200, repo);
      assert.equal(res.headers.get('docker-content-digest'), manifest.digest);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), manifest.bytes);
    }
  });

  it(`memory is bounded: RSS after ${WALKS} more full catalog walks stays within ${RSS_MARGIN / 2 ** 20} MiB of after the first`, async () => {
    const pid = berth!.daemon.pid;
    assert.equal((await walk(berth!, 1000)).length, ALL.length);
    const first = memStatus(pid).rss;
    for (let i = 0; i < WALKS; i++) assert.equal((await walk(berth!, 1000)).length, ALL.length);
    const last = memStatus(pid).rss;
    assert.ok(last - first <= RSS_MARGIN, `RSS ${(first / 2 ** 20).toFixed(1)} MiB after one walk, ${(last / 2 ** 20).toFixed(1)} MiB after ${WALKS} more`);
  });

  it('restarted on the reconciled root, answers exact pages from the index while its reconcile runs', async () => {
    await berth!.stop();
    berth = await spawnBerth({ storage: { rootDirectory } });
    const middle = await page(berth, `?n=100&last=${encodeURIComponent(NAMES[N / 2 - 1]!)}`);
    const last = await page(berth, `?n=100&last=${encodeURIComponent(ALL[ALL.length - 101]!)}`);
    assert.equal(reconcileLogged(berth), false, 'premise: the restart\'s reconcile was still running');
    assert.deepEqual(middle.repos, expectedPage(100, NAMES[N / 2 - 1]!));
    assert.ok(middle.link);
    assert.deepEqual(last, { repos: ALL.slice(-100), link: null });
  });
});
