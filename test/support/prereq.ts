/**
 * Prerequisites a test needs from the machine (a Debian package, root for a mount, a free port). In CI
 * (`CI=true`: .ci/run installs every one of them) a missing prerequisite fails the test and names it, so a
 * suite can never pass by not running. Elsewhere the test is skipped visibly: its title says what is missing
 * and why, and a warning is printed once.
 */
import { spawnSync } from 'node:child_process';
import { describe as jestDescribe, test as jestTest } from '@jest/globals';

export const IN_CI = /^(true|1)$/i.test(process.env.CI ?? '');

function message(name: string, reason: string): string {
  return `missing prerequisite: ${name} (${reason})`;
}

type Describe = (title: string, body: () => void) => void;
type Test = (title: string, fn: () => void | Promise<unknown>, timeout?: number) => void;

export interface Gate {
  describe: Describe;
  test: Test;
}

/**
 * `describe`/`test` that run when `available`; otherwise, in CI, one failing test per block naming the
 * prerequisite, and outside CI a skipped block whose title carries the reason.
 */
export function requirePrereq(name: string, available: boolean, reason: string): Gate {
  if (available) return { describe: jestDescribe, test: jestTest };
  const text = message(name, reason);
  if (IN_CI) {
    return {
      describe: (title) => jestDescribe(title, () => {
        jestTest(text, () => {
          throw new Error(`${text}; CI installs every prerequisite (.ci/run)`);
        });
      }),
      test: (title) => jestTest(`${title} — ${text}`, () => {
        throw new Error(`${text}; CI installs every prerequisite (.ci/run)`);
      }),
    };
  }
  console.warn(`SKIPPED: ${text}`);
  return {
    describe: (title, body) => jestDescribe.skip(`${title} — SKIPPED: ${text}`, body),
    test: (title, fn, timeout) => jestTest.skip(`${title} — SKIPPED: ${text}`, fn, timeout),
  };
}

/**
 * For a prerequisite only known while a test runs (a port found busy): true when present; in CI throws
 * naming it; elsewhere warns and returns false, and the caller returns.
 */
export function prereqAtRuntime(name: string, available: boolean, reason: string): boolean {
  if (available) return true;
  const text = message(name, reason);
  if (IN_CI) throw new Error(`${text}; CI installs every prerequisite (.ci/run)`);
  console.warn(`SKIPPED at run time: ${text}`);
  return false;
}

/** The openssl CLI (Debian package openssl): the TLS tests make their certificates with it (support/certs.ts). */
export function requireOpenssl(): Gate {
  const available = spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;
  return requirePrereq('openssl', available, 'the openssl CLI makes the TLS tests\' certificates');
}
