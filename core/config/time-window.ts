/**
 * `storage.gcTimeWindow` as Zot's gc.ParseTimeWindow reads it: two Go "15:04" times of day (dots allowed for
 * the colon), split by "-", not equal; "" means any time. The end is exclusive and a window whose end is
 * before its start wraps midnight ("22:00-04:00"). Times are UTC: Zot reads the process clock's zone, which
 * is UTC in its container images, and berth does not depend on the host's TZ.
 */
export interface TimeWindow {
  /** Minutes after midnight. */
  start: number;
  end: number;
}

/** The window, undefined for "" (any time), or an Error saying what is wrong. */
export function parseTimeWindow(raw: string): TimeWindow | undefined | Error {
  if (raw.trim() === '') return undefined;
  const parts = raw.split('-');
  if (parts.length !== 2) return new Error('expected "HH:MM-HH:MM"');
  const [start, end] = parts.map(minutesOf);
  if (Number.isNaN(start)) return new Error('invalid start time');
  if (Number.isNaN(end)) return new Error('invalid end time');
  if (start === end) return new Error('start and end times must differ');
  return { start, end };
}

/** True when `now` (its UTC time of day, to the minute) lies inside the window; no window = always. */
export function insideWindow(window: TimeWindow | undefined, now: Date): boolean {
  if (!window) return true;
  const current = now.getUTCHours() * 60 + now.getUTCMinutes();
  return window.start < window.end
    ? current >= window.start && current < window.end
    : current >= window.start || current < window.end;
}

function minutesOf(part: string): number {
  const match = /^(\d{1,2}):(\d{2})$/.exec(part.trim().replace(/\./g, ':'));
  if (!match) return NaN;
  const [h, m] = [Number(match[1]), Number(match[2])];
  return h < 24 && m < 60 ? h * 60 + m : NaN;
}
