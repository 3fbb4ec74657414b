// Runs one bench section on its own (`node dist/bench/<section>.js`): its table and verdicts, then cleanup.
import { cleanupTempDirs } from '../test/helpers/tools.js';
import { closeClient } from './client.js';
import { MB, loadConfig, type BenchConfig } from './config.js';
import { table, verdict, type Row, type Target } from './report.js';

export type Section = (cfg: BenchConfig, rows: Row[], targets: Target[], log: (m: string) => void) => Promise<void>;

export function runAlone(section: Section): void {
  const rows: Row[] = [];
  const targets: Target[] = [];
  section(loadConfig(), rows, targets, (m) => process.stderr.write(`[bench] ${m}\n`))
    .then(() => {
      console.log(table(rows)); // each section's rows say what its two columns are
      // Byte-valued targets print in MB, as in run.ts.
      for (const t of targets) console.log(`  ${verdict(t.unit === 'B' ? { ...t, value: t.value! / MB, max: t.max! / MB, unit: 'MB' } : t).text}`);
    })
    .catch((err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    })
    .finally(async () => {
      closeClient();
      await cleanupTempDirs();
    });
}
