import { z } from 'zod';

/**
 * Knobs of the reliability suite, read from the environment and validated:
 * a typo or an absurd value stops the run with a clear message instead of
 * silently testing something else. `npm test` uses the defaults (short
 * forms that fit the CI budget); `npm run test:chaos` sets the long ones.
 */
const ChaosConfig = z.object({
  /** Generated SDP offers and signaling frames per fuzz test. */
  MM_FUZZ_CASES: z.coerce.number().int().min(1).max(1_000_000).default(1500),
  MM_FUZZ_SEED: z.coerce.number().int().min(0).default(20261125),
  /** Length of the viewer-churn soak. */
  MM_SOAK_SECONDS: z.coerce
    .number()
    .int()
    .min(5)
    .max(24 * 3600)
    .default(20),
});
export type ChaosConfig = z.infer<typeof ChaosConfig>;

export function chaosConfig(env: NodeJS.ProcessEnv = process.env): ChaosConfig {
  const parsed = ChaosConfig.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`chaos suite: ${issue.path.join('.')}: ${issue.message}`);
  }
  return parsed.data;
}
