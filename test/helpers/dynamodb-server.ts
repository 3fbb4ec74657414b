// A local DynamoDB for the DynamoDB MetaStore's tests: dynalite (npm devDependency) as a child on 127.0.0.1
// with its LevelDB data in a temp dir, stopped by PID. Tables become ACTIVE at once (createTableMs 0), so the
// store's create-when-absent path runs without waiting.
import { join, resolve } from 'node:path';
import { type Daemon, readyPort, startDaemon } from './daemon.js';
import { tempDir } from './tools.js';

export interface DynamoServer {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  port: number;
  readonly pid: number;
  /** `storage.cacheDriver` for this server as the store receives it (keys lower-cased); `table` names the Zot cache table (berth's is `<table>.berth`). */
  cacheDriver(table: string, extra?: Record<string, unknown>): Record<string, unknown>;
  /** Stops the server (by PID); `start` brings it back on the same port with the same data. */
  stop(): Promise<void>;
  start(): Promise<void>;
}

const REPO = resolve(__dirname, '../../..');
/** dynalite accepts any signature; the SDK's default chain finds these in the environment. */
export const DYNAMO_ENV = { AWS_ACCESS_KEY_ID: 'berth-test', AWS_SECRET_ACCESS_KEY: 'berth-test', AWS_REGION: 'us-east-1' };

export async function startDynamoServer(): Promise<DynamoServer> {
  const dir = await tempDir('dynalite');
  let daemon: Daemon;
  let port = 0;
  const launch = async () => {
    const stdoutFile = join(dir, `stdout-${Date.now()}.log`);
    daemon = startDaemon('dynalite', process.execPath, ['-e', `
      const server = require('dynalite')({ path: ${JSON.stringify(join(dir, 'data'))}, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
      server.listen(${port}, '127.0.0.1', () => process.stdout.write('READY ' + server.address().port + '\\n'));
      process.on('SIGTERM', () => server.close(() => process.exit(0)));`], { cwd: REPO, stdoutFile, stderrFile: join(dir, 'stderr.log') });
    port = await readyPort(daemon, stdoutFile);
  };
  await launch();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    get pid() {
      return daemon.pid;
    },
    cacheDriver: (table, extra = {}) => ({ name: 'dynamodb', endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', cachetablename: table, ...extra }),
    stop: () => daemon.stop(),
    start: launch,
  };
}
