// jest globalSetup: integration and e2e tests run the built JavaScript in dist/ (real processes), so a
// source edit followed by `npx jest` must rebuild first or it tests the previous build.
// scripts/build-if-stale.mjs compares the sources' mtimes with the last build and runs tsc only when needed.
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export default function buildFirst() {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  execFileSync(process.execPath, [join(root, 'scripts', 'build-if-stale.mjs')], { stdio: 'inherit' });
}
