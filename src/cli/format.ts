// Plain-text output helpers of the `runbook` command: aligned tables, times, sizes.

export interface Column<T> {
  header: string;
  value(row: T): string | number | undefined;
  align?: 'left' | 'right';
}

/** An aligned table with a header line; cells never wrap, the last column is not padded. */
export function table<T>(rows: T[], columns: Column<T>[]): string {
  const cells = rows.map((row) => columns.map((c) => String(c.value(row) ?? '')));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => (i === values.length - 1 && columns[i]!.align !== 'right' ? v : columns[i]!.align === 'right' ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n') + '\n';
}

/** `2025-01-31 12:00:03Z`: sortable, unambiguous, short. */
export function shortTime(isoTime: string | undefined): string {
  return isoTime ? isoTime.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '';
}

/** `12:00:03.120`: the time of day (UTC) with milliseconds, for a timeline within one run. */
export function clock(isoTime: string | undefined): string {
  return isoTime ? isoTime.slice(11, 23) : '';
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/** JSON on one line, cut to `max` characters. */
export function brief(value: unknown, max = 160): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** `0.4s`, `12.3s`, `2m05s`, `1h02m`: a step's or run's duration at a glance. */
export function duration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '';
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
