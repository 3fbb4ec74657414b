import type { ScrubImageResult } from './check';

// Zot's scrub table (pkg/storage/scrub.go PrintScrubResults): five left-aligned columns, one space between
// them, no borders; REPOSITORY as wide as its longest value up to 32, TAG up to 24, STATUS 8, AFFECTED BLOB 64
// (a sha256 hex), ERROR as wide as its longest value. A longer value wraps onto the next lines in its column.
const HEADER = ['REPOSITORY', 'TAG', 'STATUS', 'AFFECTED BLOB', 'ERROR'];
const MAX_REPOSITORY = 32;
const MAX_TAG = 24;
const STATUS_WIDTH = 8;
const AFFECTED_BLOB_WIDTH = 64;

/** Zot's scrub results table, header first, one line per image (more for a wrapped value). */
export function formatScrubTable(results: readonly ScrubImageResult[]): string {
  const rows = results.map((r) => [r.imageName, r.tag, r.status, r.affectedBlob, r.error]);
  const longest = (col: number) => Math.max(HEADER[col].length, ...rows.map((row) => row[col].length));
  const widths = [
    Math.min(longest(0), MAX_REPOSITORY),
    Math.min(longest(1), MAX_TAG),
    STATUS_WIDTH,
    AFFECTED_BLOB_WIDTH,
    longest(4),
  ];
  return [HEADER, ...rows].map((row) => formatRow(row, widths)).join('');
}

function formatRow(cells: string[], widths: number[]): string {
  const pieces = cells.map((cell, i) => chunks(cell, widths[i]));
  const height = Math.max(...pieces.map((p) => p.length));
  let out = '';
  for (let line = 0; line < height; line++) {
    out += `${pieces.map((p, i) => (p[line] ?? '').padEnd(widths[i])).join(' ').trimEnd()}\n`;
  }
  return out;
}

function chunks(value: string, width: number): string[] {
  if (value.length <= width) return [value];
  const out: string[] = [];
  for (let at = 0; at < value.length; at += width) out.push(value.slice(at, at + width));
  return out;
}
