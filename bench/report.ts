// The results table and the pass/miss verdict for each target.

export interface Row {
  metric: string;
  unit: string;
  berth?: number;
  distribution?: number;
  /** 'higher' for throughput, 'lower' for memory; the ratio column is always berth/distribution. */
  better: 'higher' | 'lower';
  /** A difference, not a level: no ratio (it would divide by a figure near zero). */
  delta?: boolean;
}

export interface Target {
  name: string;
  /** Measured value the target is about (a ratio or an absolute figure). */
  value?: number;
  /** Target bound: value ≥ min or value ≤ max. */
  min?: number;
  max?: number;
  unit: string;
}

const fmt = (v: number | undefined, unit: string): string => {
  if (v === undefined || !Number.isFinite(v)) return 'n/a';
  const digits = unit === '×' || unit === 'CPU-s' ? 2 : Math.abs(v) >= 100 ? 0 : 1;
  return `${v.toFixed(digits)}${unit === '×' ? '×' : ` ${unit}`}`;
};

export function ratio(r: Row): number | undefined {
  if (r.delta || r.berth === undefined || r.distribution === undefined || r.distribution <= 0 || r.berth < 0) return undefined;
  return r.berth / r.distribution;
}

export function table(rows: Row[]): string {
  const cells = rows.map((r) => {
    const q = ratio(r);
    const note = r.better === 'lower' ? ' (lower is better)' : '';
    return [r.metric, fmt(r.berth, r.unit), fmt(r.distribution, r.unit), q === undefined ? 'n/a' : `${q.toFixed(2)}×${note}`];
  });
  const head = ['metric', 'berth', 'distribution', 'ratio berth/distribution'];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((x, i) => (i === 0 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join(' | ')} |`;
  const sep = `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(head), sep, ...cells.map(line)].join('\n');
}

export type Verdict = 'pass' | 'MISS' | 'n/a';

export function verdict(t: Target): { verdict: Verdict; text: string } {
  if (t.value === undefined || !Number.isFinite(t.value)) return { verdict: 'n/a', text: `${t.name}: not measured` };
  const bound = t.min !== undefined ? `≥ ${fmt(t.min, t.unit)}` : `≤ ${fmt(t.max, t.unit)}`;
  const ok = t.min !== undefined ? t.value >= t.min : t.value <= t.max!;
  const limit = (t.min ?? t.max)!;
  // How far from the bound, relative to it: +x% means x% of headroom, -x% means x% short.
  const margin = limit === 0 ? 0 : (t.min !== undefined ? t.value / limit - 1 : 1 - t.value / limit) * 100;
  const marginText = limit === 0 ? '' : ` (${margin >= 0 ? '+' : ''}${margin.toFixed(0)}% vs target)`;
  const v: Verdict = ok ? 'pass' : 'MISS';
  return { verdict: v, text: `${v.padEnd(4)}  ${t.name}: ${fmt(t.value, t.unit)} (target ${bound})${marginText}` };
}
