/** Number formatting shared by readouts, tables and CSV. */

export function fixed(v: number | null | undefined, digits = 3): string {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  return v.toFixed(digits);
}

/** A ratio as "0.917 (−8.3%)". */
export function ratio(v: number): string {
  const pct = (v - 1) * 100;
  const sign = pct < 0 ? '−' : '+';
  return `${v.toFixed(3)} (${sign}${Math.abs(pct).toFixed(1)}%)`;
}

/** Seconds as "12.3 s" or "4 min 05 s". */
export function duration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  return `${m} min ${String(Math.round(seconds - m * 60)).padStart(2, '0')} s`;
}

/** Shortens an untrusted token for an axis label (the full text stays in the readout). */
export function shortToken(t: string, max = 10): string {
  const clean = t.replace(/\s/g, '·');
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

/** A file size as "812 B", "3.4 KB" or "420.1 MB". */
export function fileSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB'];
  let v = bytes / 1024;
  let u = 0;
  for (; v >= 1024 && u < units.length - 1; u++) v /= 1024;
  return `${v.toFixed(1)} ${units[u]}`;
}

/** A moment as the user's locale writes date and time. */
export function dateTime(ms: number): string {
  return new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}
