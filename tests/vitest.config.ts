import { defineConfig } from "vitest/config";
import { fileURLToPath } from "node:url";

export default defineConfig({
  root: fileURLToPath(new URL("..", import.meta.url)),
  test: {
    include: ["tests/**/*.test.ts"],
    // Integration and e2e tests bind real sockets and spawn processes: keep them bounded.
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Two cores here and in CI: more workers only make the process-spawning tests flaky.
    maxWorkers: 2,
  },
});
