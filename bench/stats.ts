/**
 * Timing helpers of the benchmark: wall-clock timing, repeats and medians.
 */

/** Milliseconds since an arbitrary origin, sub-millisecond resolution. */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Runs `fn` and returns how long it took (ms) with its result. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = nowMs();
  const value = await fn();
  return { ms: nowMs() - t0, value };
}

/** The median of some numbers (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** A measurement: every sample (ms) and their median. */
export interface Sample {
  samples: number[];
  median: number;
}

export function sample(samples: number[]): Sample {
  return { samples, median: median(samples) };
}

/**
 * Measures `repeats` runs of `run` (each returns the milliseconds it measured itself, so set-up
 * and clean-up around the timed part stay out of the figure).
 */
export async function repeat(repeats: number, run: (i: number) => Promise<number>): Promise<Sample> {
  const samples: number[] = [];
  for (let i = 0; i < repeats; i++) samples.push(await run(i));
  return sample(samples);
}

/** `1234.5` → `1.23 s`, `12.3` → `12.3 ms`. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return "–";
  if (Math.abs(ms) >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (Math.abs(ms) >= 100) return `${ms.toFixed(0)} ms`;
  return `${ms.toFixed(1)} ms`;
}

/** A ratio as `0.84×`. */
export function formatRatio(r: number): string {
  return Number.isFinite(r) ? `${r.toFixed(2)}×` : "–";
}
