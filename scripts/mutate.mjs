#!/usr/bin/env node
// The deliberate-bug (mutation) run: `npm run mutate [-- --module NAME] [-- --list]`.
//
// Applies each mutant of scripts/mutants.mjs (one small code change that a test should notice) to a copy
// of the sources in a temporary directory, runs the unit tests that cover that module there, and counts
// the mutant killed when they fail, timed out when they hang past the module's limit, survived when they
// pass. The working tree is never written: every mutant is applied to the copy and undone in `finally`,
// and the copy is removed on exit, Ctrl-C or a crash. Not part of `npm test` or CI (tens of minutes).
//
// Why not StrykerJS: it runs with this repository's ESM jest (ts-jest, --experimental-vm-modules), but
// instruments every mutant of a file at once and runs jest in one long-lived process; on the store, whose
// unit tests exercise the instrumented hot path millions of times, a 60-line slice of store.ts had not
// finished its dry run after 16 minutes on two cores, with the test process at 3.6 GB. See docs/testing.md.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MODULES, MUTANTS } from './mutants.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const NO_BUILD = 'mutate-global-setup.mjs';
const COPIED = ['server', 'operator', 'test', 'scripts', 'jest.config.js', 'tsconfig.json', 'tsconfig.test.json', 'package.json'];
/** A module's per-mutant limit: its tests' clean run times this, plus a floor for jest's own start. */
const TIMEOUT_FACTOR = 3;
const TIMEOUT_FLOOR_MS = 60_000;
/** The score the test suite must reach; below it the run exits 1. */
const MIN_SCORE = 80;

function parseArgs(argv) {
  const out = { modules: null, list: false, concurrency: 2, json: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--list') out.list = true;
    else if (a === '--module') (out.modules ??= []).push(argv[++i]);
    else if (a === '--concurrency') out.concurrency = Number(argv[++i]);
    else if (a === '--json') out.json = argv[++i];
    else {
      console.error(`mutate: unknown argument ${a} (known: --module NAME, --list, --concurrency N, --json FILE)`);
      process.exit(2);
    }
  }
  if (!Number.isInteger(out.concurrency) || out.concurrency < 1 || out.concurrency > 8) {
    console.error('mutate: --concurrency must be an integer in [1, 8]');
    process.exit(2);
  }
  for (const m of out.modules ?? []) {
    if (!MODULES[m]) {
      console.error(`mutate: --module ${m} is not one of ${Object.keys(MODULES).join(', ')}`);
      process.exit(2);
    }
  }
  return out;
}

/** Checks every mutant against the current sources: its snippet must occur exactly `occurrence` times or once. */
function resolveMutants(selected) {
  const problems = [];
  const resolved = [];
  MUTANTS.forEach((m, n) => {
    const id = `${m.module}#${n + 1}`;
    if (!MODULES[m.module]) problems.push(`${id}: unknown module ${m.module}`);
    if (selected && !selected.includes(m.module)) return;
    const path = join(root, m.file);
    if (!existsSync(path)) {
      problems.push(`${id}: ${m.file} does not exist`);
      return;
    }
    const text = readFileSync(path, 'utf8');
    const hits = [];
    for (let at = text.indexOf(m.from); at >= 0; at = text.indexOf(m.from, at + 1)) hits.push(at);
    const nth = m.occurrence ?? 1;
    if (hits.length === 0) problems.push(`${id}: snippet not found in ${m.file}: ${JSON.stringify(m.from)}`);
    else if (m.occurrence === undefined && hits.length > 1) problems.push(`${id}: snippet occurs ${hits.length} times in ${m.file}; give occurrence`);
    else if (nth > hits.length) problems.push(`${id}: occurrence ${nth} of ${hits.length} in ${m.file}`);
    else {
      const at = hits[nth - 1];
      const line = text.slice(0, at).split('\n').length;
      const mutated = text.slice(0, at) + m.to + text.slice(at + m.from.length);
      resolved.push({ ...m, id, line, original: text, mutated, tests: m.tests ?? MODULES[m.module].tests });
    }
  });
  if (problems.length > 0) {
    console.error(`mutate: the mutant table no longer matches the sources:\n  ${problems.join('\n  ')}`);
    process.exit(2);
  }
  return resolved;
}

const sandboxes = [];
const children = new Set();

function cleanup() {
  for (const c of children) {
    try {
      process.kill(-c.pid, 'SIGKILL');
    } catch { /* gone */ }
  }
  for (const dir of sandboxes) rmSync(dir, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    console.error(`\nmutate: ${sig}: removing the copies (the working tree was never changed)`);
    cleanup();
    process.exit(130);
  });
}
process.on('uncaughtException', (err) => {
  console.error(err);
  cleanup();
  process.exit(1);
});

function makeSandbox() {
  const dir = mkdtempSync(join(tmpdir(), 'cachalot-mutate-'));
  sandboxes.push(dir);
  for (const entry of COPIED) cpSync(join(root, entry), join(dir, entry), { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
  // Replaces jest's globalSetup (which rebuilds dist/ when the sources are newer, as a mutated file always
  // is): the unit tests import the TypeScript sources, and a tsc build per mutant costs ~10 s.
  writeFileSync(join(dir, NO_BUILD), 'export default function noBuild() {}\n');
  return dir;
}

/** Runs jest on `tests` in `dir`; resolves { code, ms, timedOut, tail }. */
function runJest(dir, tests, timeoutMs) {
  return new Promise((resolvePromise) => {
    const started = Date.now();
    const child = spawn(process.execPath, [
      '--experimental-vm-modules', join(dir, 'node_modules', 'jest', 'bin', 'jest.js'),
      // --forceExit: after --bail stops a run, a failed suite's open sockets must not keep jest alive.
      '--ci', '--runInBand', '--bail=1', '--forceExit', `--globalSetup=${join(dir, NO_BUILD)}`, '--silent', '--reporters=default', '--', ...tests,
    ], { cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
    children.add(child);
    let out = '';
    const keep = (b) => {
      out = (out + b.toString()).slice(-4000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch { /* gone */ }
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolvePromise({ code, ms: Date.now() - started, timedOut, tail: out });
    });
  });
}

function fmtMs(ms) {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const mutants = resolveMutants(args.modules);
  if (args.list) {
    for (const m of mutants) console.log(`${m.id}\t${m.file}:${m.line}\t${m.why}`);
    return;
  }
  const started = Date.now();
  const modules = [...new Set(mutants.map((m) => m.module))];
  const pool = Array.from({ length: args.concurrency }, makeSandbox);

  // Clean runs first: a module whose tests fail unmutated would count every mutant killed.
  const limit = {};
  for (const name of modules) {
    const tests = [...new Set(mutants.filter((m) => m.module === name).flatMap((m) => m.tests))];
    const r = await runJest(pool[0], tests, 10 * 60_000);
    if (r.code !== 0) {
      console.error(`mutate: the ${name} tests fail without any mutant:\n${r.tail}`);
      process.exit(1);
    }
    limit[name] = Math.max(TIMEOUT_FLOOR_MS, TIMEOUT_FACTOR * r.ms);
    console.log(`clean run ${name}: ${tests.length} test files in ${fmtMs(r.ms)} (per-mutant limit ${fmtMs(limit[name])})`);
  }

  const results = [];
  let next = 0;
  async function worker(dir) {
    while (next < mutants.length) {
      const m = mutants[next++];
      const target = join(dir, m.file);
      let r;
      try {
        writeFileSync(target, m.mutated);
        r = await runJest(dir, m.tests, limit[m.module]);
      } finally {
        writeFileSync(target, m.original);
      }
      const status = r.timedOut ? 'timeout' : r.code === 0 ? 'survived' : 'killed';
      results.push({ id: m.id, module: m.module, file: m.file, line: m.line, why: m.why, status, ms: r.ms });
      console.log(`${status.padEnd(8)} ${m.id.padEnd(12)} ${m.file}:${m.line}  ${m.why}  (${fmtMs(r.ms)})`);
    }
  }
  await Promise.all(pool.map(worker));

  const order = (a, b) => Number(a.id.split('#')[1]) - Number(b.id.split('#')[1]);
  console.log('\nmodule        killed  timeout  survived  total  score');
  let k = 0; let t = 0; let total = 0;
  for (const name of modules) {
    const rs = results.filter((r) => r.module === name);
    const killed = rs.filter((r) => r.status === 'killed').length;
    const timeout = rs.filter((r) => r.status === 'timeout').length;
    k += killed; t += timeout; total += rs.length;
    const score = (100 * (killed + timeout)) / rs.length;
    console.log(`${name.padEnd(13)} ${String(killed).padStart(6)}  ${String(timeout).padStart(7)}  ${String(rs.length - killed - timeout).padStart(8)}  ${String(rs.length).padStart(5)}  ${score.toFixed(1)}%`);
  }
  const score = (100 * (k + t)) / total;
  console.log(`${'total'.padEnd(13)} ${String(k).padStart(6)}  ${String(t).padStart(7)}  ${String(total - k - t).padStart(8)}  ${String(total).padStart(5)}  ${score.toFixed(1)}%`);
  const survivors = results.filter((r) => r.status === 'survived').sort(order);
  if (survivors.length > 0) {
    console.log('\nsurvived:');
    for (const s of survivors) console.log(`  ${s.id.padEnd(12)} ${s.file}:${s.line}  ${s.why}`);
  }
  console.log(`\nmutation score ${score.toFixed(1)}% (${k + t} of ${total} killed, minimum ${MIN_SCORE}%) in ${fmtMs(Date.now() - started)}`);
  if (args.json) {
    mkdirSync(dirname(args.json), { recursive: true });
    writeFileSync(args.json, JSON.stringify({ score, results: results.sort(order) }, null, 2) + '\n');
  }
  process.exitCode = score >= MIN_SCORE ? 0 : 1;
}

main().catch((err) => {
  console.error(err);
  cleanup();
  process.exit(1);
});
