import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

/**
 * One vitest run for the whole monorepo. Unit tests live beside each package
 * (`<pkg>/test/*.test.ts`); cross-package end-to-end tests live in `test/`.
 * End-to-end tests start real processes (redis-server, nodes, Chromium), so
 * they run one file at a time on the 2-core CI machine.
 */

/**
 * Tests import the workspace packages from their TypeScript sources (the
 * `@matchmesh/source` export condition), so a test always sees the code as
 * edited; the processes the e2e tests start run the compiled dist/ instead.
 */
const conditions = ['@matchmesh/source', ...defaultServerConditions];
const resolve = { resolve: { conditions }, ssr: { resolve: { conditions } } };
export default defineConfig({
  test: {
    projects: [
      {
        ...resolve,
        test: {
          name: 'unit',
          include: ['packages/*/test/**/*.test.ts', 'apps/*/test/**/*.test.ts', 'infra/test/**/*.test.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        ...resolve,
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
