#!/usr/bin/env node
// Rebuilds dist/ with tsc when any TypeScript source (or the tsconfig) is newer than the last build.
// `npm start` and `npm test` call it so that a fresh checkout, or an edit, never runs stale JavaScript.
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const stamp = join(root, 'dist', '.buildstamp');

function newest(path) {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let max = st.mtimeMs;
  for (const entry of readdirSync(path)) max = Math.max(max, newest(join(path, entry)));
  return max;
}

const sources = Math.max(
  newest(join(root, 'server', 'src')),
  newest(join(root, 'operator', 'src')),
  newest(join(root, 'tsconfig.json')),
);
const built = existsSync(stamp) ? statSync(stamp).mtimeMs : 0;
if (sources > built || process.argv.includes('--force')) {
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.json')], {
    stdio: 'inherit',
  });
  writeFileSync(stamp, `${new Date().toISOString()}\n`);
}
