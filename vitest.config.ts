import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'chat/test/**/*.test.ts', 'redis/test/**/*.test.ts'],
    // Network tests wait for real events, never for fixed sleeps; this only bounds a hang.
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
