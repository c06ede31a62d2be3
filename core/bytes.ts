/**
 * Byte counts as people read them, in PostgreSQL's units (`pg_size_pretty`): B, kB, MB, GB, TB,
 * each 1024 of the one before; one decimal below 10 (`2.0 kB`, `9.5 MB`), whole numbers above
 * (`12 MB`). An unknown count is `-`.
 */
const UNITS = ["B", "kB", "MB", "GB", "TB"];

export function formatBytes(bytes: number | undefined): string {
  if (bytes === undefined || !Number.isFinite(bytes)) return "-";
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit > 0 && Math.abs(value) < 10 ? value.toFixed(1) : Math.round(value)} ${UNITS[unit]}`;
}
