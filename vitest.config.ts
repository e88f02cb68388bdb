import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['./test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Each file works in its own schema, so files run in parallel; two cores, so two at a time.
    maxWorkers: 2,
    env: { SKIPLOCK_LOG_LEVEL: process.env.SKIPLOCK_LOG_LEVEL ?? 'silent' },
  },
});
