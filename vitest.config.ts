import { defineConfig } from 'vitest/config';

/**
 * One vitest run for the whole monorepo. Unit tests live beside each package
 * (`<pkg>/test/*.test.ts`); cross-package end-to-end tests live in `test/`.
 * End-to-end tests start real processes (redis-server, nodes, Chromium), so
 * they run one file at a time on the 2-core CI machine.
 */
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['packages/*/test/**/*.test.ts', 'apps/*/test/**/*.test.ts', 'infra/test/**/*.test.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
          fileParallelism: false,
          pool: 'forks',
        },
      },
    ],
  },
});
