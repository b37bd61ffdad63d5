import { z } from 'zod';

/*
 * Cost per region (issue 17 item 3), beyond the shared CostResponse of ops.ts.
 */

/** `POST /api/v1/cost/reset`: the counters start again from zero (a new match night). */
export const CostResetResponse = z.object({
  /** When the new counters started (ms since the epoch). */
  since: z.number(),
});
export type CostResetResponse = z.infer<typeof CostResetResponse>;

/** Bytes as people read them, in decimal units as providers bill them (the CLI and /ops cost figures). */
export function formatBytes(n: number): string {
  if (n < 1e3) return `${Math.round(n)} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n / 1e3;
  let u = 0;
  while (v >= 1e3 && u < units.length - 1) {
    v /= 1e3;
    u++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

/** Dollars: cents, or two significant digits below a cent (a test night, or a real one's first minutes: not $0.00). */
export function formatUsd(n: number): string {
  if (n >= 100) return `$${n.toFixed(0)}`;
  if (n >= 0.01) return `$${n.toFixed(2)}`;
  return n > 0 ? `$${n.toPrecision(2)}` : '$0';
}
