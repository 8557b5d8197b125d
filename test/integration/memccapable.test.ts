// Issue 2, evidence 2: Debian's memccapable (libmemcached's memcapable) in ASCII mode passes every test against
// cachalot-server. memcached runs the same way as a control, so a failure cannot be blamed on the tool.
import { afterAll, describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import {
  cachalotUnavailableReason,
  startCachalot,
  startMemcached,
  stopServer,
  type RunningServer,
} from '../support/servers.js';
import { requirePrereq } from '../support/prereq.js';

const MEMCCAPABLE = '/usr/bin/memccapable';
const RUN_TIMEOUT_MS = 60_000;
/** The ASCII tests memccapable 1.1.4 runs; fewer means it stopped early. */
const ASCII_TEST_COUNT = 27;

interface CapableRun {
  readonly code: number | null;
  readonly output: string;
  readonly results: ReadonlyMap<string, string>;
}

function runMemccapable(port: number): Promise<CapableRun> {
  return new Promise((resolve, reject) => {
    // -t: per-operation I/O timeout in seconds, so that a server that never answers fails the run quickly.
    const child = spawn(MEMCCAPABLE, ['-a', '-t', '5', '-h', '127.0.0.1', '-p', String(port)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (output += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      const results = new Map<string, string>();
      for (const line of output.split('\n')) {
        const m = /^(ascii .+?)\s+\[(\w+)\]\s*$/.exec(line);
        if (m?.[1] && m[2]) results.set(m[1], m[2]);
      }
      resolve({ code, output, results });
    });
  });
}

function expectAllPass(run: CapableRun): void {
  const failed = [...run.results].filter(([, verdict]) => verdict !== 'pass');
  expect({ failed, output: failed.length > 0 || run.code !== 0 ? run.output : '' }).toEqual({ failed: [], output: '' });
  expect(run.results.size).toBe(ASCII_TEST_COUNT);
  expect(run.output).toContain('All tests passed');
  expect(run.code).toBe(0);
}

describe('memccapable -a against memcached (control)', () => {
  let server: RunningServer | undefined;
  afterAll(() => stopServer(server));

  test('every ASCII test passes', async () => {
    server = await startMemcached();
    expectAllPass(await runMemccapable(server.port));
  });
});

const reason = cachalotUnavailableReason();
{
  requirePrereq('cachalot-server build (dist/)', reason === null, reason ?? '').describe('memccapable -a against cachalot-server', () => {
    let server: RunningServer | undefined;
    afterAll(() => stopServer(server));

    test('every ASCII test passes', async () => {
      server = await startCachalot();
      expectAllPass(await runMemccapable(server.port));
    });
  });
}
