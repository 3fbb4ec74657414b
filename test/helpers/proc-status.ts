// A process's memory as the kernel reports it (/proc/<pid>/status), for scale tests and the benchmarks.
import { readFileSync } from 'node:fs';

export interface MemStatus {
  /** Resident set size now (bytes). */
  rss: number;
  /** Peak resident set size since start or since the last resetPeak (bytes). */
  hwm: number;
}

export function memStatus(pid: number): MemStatus {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
    if (!m) throw new Error(`/proc/${pid}/status has no ${key}`);
    return Number(m[1]) * 1024;
  };
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

