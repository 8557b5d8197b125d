// The differential suite: hand-written and random scripts, each sent whole and in 1-to-3-byte pieces to
// memcached (the oracle) and to a candidate server started with the same flags; replies must agree after masking.
import { appendFileSync } from 'node:fs';
import { afterAll, describe, expect, test } from '@jest/globals';
import { waitForExit, type RunningServer } from '../../support/servers.js';
import { HAND_SCRIPTS } from './hand-scripts.js';
import { generateScript, RANDOM_BATCH } from './generator.js';
import { runOnPair, startPair, stopPair, type ServerPair } from './pair.js';
import type { SendMode } from './runner.js';
import { escapeBytes, type Script } from './script.js';

const MODES: readonly SendMode[] = ['whole', 'pieces'];
// How long a silent server is waited for before a step counts as incomplete. Random scripts never leave a
// command incomplete, so there the wait only ever runs out when a server stalls; on a loaded 2-core machine a
// Node process can be descheduled for some hundred milliseconds.
const HAND_QUIET_MS = 1_500;
const RANDOM_QUIET_MS = 3_000;
/** How long a server that was told to shut down gets to exit (and one that was not, to prove it stays up). */
const SHUTDOWN_WAIT_MS = 3_000;

/** When a server of the pair has died, its exit status and last output: every later failure follows from it. */
function exitNote(pair: ServerPair): string {
  const notes: string[] = [];
  for (const server of [pair.oracle, pair.candidate]) {
    const { exitCode, signalCode } = server.process;
    if (exitCode === null && signalCode === null) continue;
    const status = signalCode ?? `code ${exitCode}`;
    notes.push(`\n\n${server.name} exited (${status}); its last output:\n${server.output().slice(-3000)}`);
  }
  return notes.join('');
}

/** DIFF_REPORT=<file>: every failing script's diff, not only the first three of each random batch. */
function report(title: string, diff: string): void {
  const file = process.env.DIFF_REPORT;
  if (file) appendFileSync(file, `\n### ${title}\n${diff}\n`);
}

function flagsKey(script: Script): string {
  return (script.flags ?? []).join(' ');
}

export function differentialSuite(
  title: string,
  startCandidate: (flags: readonly string[]) => Promise<RunningServer>,
  randomCount: number,
): void {
  describe(title, () => {
    const pairs = new Map<string, ServerPair>();

    async function pairFor(script: Script): Promise<ServerPair> {
      const key = flagsKey(script);
      let pair = pairs.get(key);
      if (!pair) {
        pair = await startPair(startCandidate, script.flags ?? []);
        pairs.set(key, pair);
      }
      return pair;
    }

    afterAll(async () => {
      await Promise.all([...pairs.values()].map((p) => stopPair(p)));
      pairs.clear();
    });

    describe('hand-written scripts', () => {
      for (const script of HAND_SCRIPTS) {
        for (const mode of script.modes ?? MODES) {
          test(`${script.name} [${mode}]`, async () => {
            if (script.fresh) {
              const pair = await startPair(startCandidate, script.flags ?? []);
              try {
                const diff = await runOnPair(pair, script, mode, 1, HAND_QUIET_MS);
                if (diff !== null) report(`${script.name} [${mode}]`, diff);
                expect(diff ?? '').toBe('');
                const [oracleExited, candidateExited] = await Promise.all([
                  waitForExit(pair.oracle, SHUTDOWN_WAIT_MS),
                  waitForExit(pair.candidate, SHUTDOWN_WAIT_MS),
                ]);
                expect({ [pair.candidate.name]: { exited: candidateExited } }).toEqual({
                  [pair.candidate.name]: { exited: oracleExited },
                });
              } finally {
                await stopPair(pair);
              }
              return;
            }
            const pair = await pairFor(script);
            const diff = await runOnPair(pair, script, mode, 1, HAND_QUIET_MS);
            if (diff !== null) report(`${script.name} [${mode}]`, diff);
            expect((diff ?? '') + (diff === null ? '' : exitNote(pair))).toBe('');
          });
        }
      }
    });

    // DIFF_SEEDS=7,93 runs only those seeds (to reproduce a reported failure).
    const onlySeeds = process.env.DIFF_SEEDS?.split(',').map(Number);
    if (onlySeeds) {
      test(`random seeds ${onlySeeds.join(',')}`, async () => {
        const pair = await pairFor({ name: 'random', steps: [] });
        const failures: string[] = [];
        for (const seed of onlySeeds) {
          for (const mode of MODES) {
            const diff = await runOnPair(pair, generateScript(seed), mode, seed, RANDOM_QUIET_MS);
            if (diff !== null) failures.push(`seed ${seed} [${mode}]\n${diff}`);
          }
        }
        expect(failures.join('\n\n')).toBe('');
      });
      return;
    }

    describe(`${randomCount} random scripts, each whole and in 1-to-3-byte pieces`, () => {
      for (let first = 1; first <= randomCount; first += RANDOM_BATCH) {
        const last = Math.min(randomCount, first + RANDOM_BATCH - 1);
        test(`seeds ${first}..${last}`, async () => {
          const pair = await pairFor({ name: 'random', steps: [] });
          const failures: string[] = [];
          for (let seed = first; seed <= last; seed++) {
            const script = generateScript(seed);
            for (const mode of MODES) {
              const diff = await runOnPair(pair, script, mode, seed, RANDOM_QUIET_MS);
              if (diff === null) continue;
              report(`seed ${seed} [${mode}]`, diff);
              if (failures.length < 3) {
                const sent = script.steps
                  .map((s) => ('send' in s ? `${s.conn ? `[conn ${s.conn}] ` : ''}${escapeBytes(s.send, 300)}` : ''))
                  .join('');
                failures.push(`seed ${seed} [${mode}]\nscript:\n${sent}\n${diff}`);
              } else failures.push(`seed ${seed} [${mode}]`);
            }
          }
          expect(failures.join('\n\n') + exitNote(pair)).toBe('');
        }, 120_000);
      }
    });
  });
}

