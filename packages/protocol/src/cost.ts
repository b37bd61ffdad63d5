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
