import { createApp } from './app';
import { ConfigError } from './config/config-error';
import { loadConfigFile } from './config/load';
import { describeConfig, startupRefusals, type Build } from './config/summary';
import { BUILD } from './builtins';
import { scrubCommand } from './scrub-command';
import { extensionEntries } from './extensions/entries';
import { checkEntries } from './extensions/host';
import { berthVersion } from './version';

const USAGE = `Usage: berth <command> [options]

Commands:
  serve <config>    serve a registry from a Zot config file (JSON or YAML)
  verify <config>   validate a config file and print what serve would run
  scrub <config>    check every image's manifests and blobs against their digests, offline (Zot's table)
  help              show this help
  version           print the version

Options:
  -h, --help        show this help
  -v, --version     print the version

Exit codes: 0 ok, 1 runtime failure (verify: a valid config this build refuses to serve; scrub: a server is
running on the configured address, or a repository could not be read; affected images still exit 0, as in
Zot), 2 usage or config error.`;

/** Runs the CLI; resolves to the exit code (`serve` resolves only once the server has stopped). */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '-h' || command === '--help') {
    console.log(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command === 'version' || command === '-v' || command === '--version') {
    console.log(berthVersion());
    return 0;
  }
  if (command !== 'serve' && command !== 'verify' && command !== 'scrub') {
    console.error(`berth: unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }
  const file = rest.find((a) => !a.startsWith('-'));
  if (rest.includes('-h') || rest.includes('--help')) {
    console.log(USAGE);
    return 0;
  }
  if (!file) {
    console.error(`berth ${command}: a config file is required\n\n${USAGE}`);
    return 2;
  }
  let config;
  try {
    config = await loadConfigFile(file);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`berth: invalid config ${file}:\n${err.issues.map((i) => `  - ${i}`).join('\n')}`);
      return 2;
    }
    console.error(`berth: cannot read config ${file}: ${(err as Error).message}`);
    return 2;
  }
  if (command === 'verify') return verify(config, file);
  if (command === 'scrub') return scrubCommand(config);
  return serve(config, file);
}

/** Prints what serve would run; a valid Zot config that this build would refuse to serve exits 1, as serve does. */
async function verify(config: Awaited<ReturnType<typeof loadConfigFile>>, file: string): Promise<number> {
  const build: Build = BUILD;
  const refusals = [...startupRefusals(config, build), ...(await extensionRefusals(config, file))];
  console.log(refusals.length === 0 ? `config ${file} is valid; berth would run:` : `config ${file} is valid, but berth serve would refuse it (see below); it describes:`);
  for (const line of describeConfig(config, build)) console.log(`  ${line}`);
  if (refusals.length === 0) return 0;
  console.error(`berth: serve would refuse to start with this config:\n${refusals.map((r) => `  - ${r}`).join('\n')}`);
  return 1;
}

/**
 * Loads each third-party module as serve does and checks it (shape, API version, dependencies, its config
 * slice against its schema) without registering anything: what serve would refuse, as one message.
 */
async function extensionRefusals(config: Awaited<ReturnType<typeof loadConfigFile>>, file: string): Promise<string[]> {
  try {
    checkEntries(await extensionEntries(config, { configFile: file }));
    return [];
  } catch (err) {
    return [(err as Error).message];
  }
}

async function serve(config: Awaited<ReturnType<typeof loadConfigFile>>, file: string): Promise<number> {
  let app;
  try {
    app = await createApp(config, { configFile: file });
    await app.listen();
  } catch (err) {
    console.error(`berth: failed to start: ${(err as Error).message}`);
    await app?.close(0).catch(() => undefined);
    return 1;
  }
  const started = app;
  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      started.logger.info({ signal }, 'shutting down');
      started.close().then(() => resolve(0), (err: unknown) => {
        console.error(`berth: failed to shut down cleanly: ${(err as Error).message}`);
        resolve(1);
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    // Zot exits on SIGHUP; berth keeps serving and re-reads the config file (an invalid one is logged and ignored).
    process.on('SIGHUP', () => {
      started.logger.info({ signal: 'SIGHUP' }, 'reloading config');
      void started.reload();
    });
  });
}
