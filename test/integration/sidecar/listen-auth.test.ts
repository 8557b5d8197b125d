/**
 * --listen-auth-file: the sidecar's own listener asks for memcached's ASCII authentication. The same command
 * scripts go to Debian's memcached -Y and to the sidecar (with a cachalot-server behind it) and are answered
 * byte for byte, auth_cmds/auth_errors included; a rotation of the file reaches new attempts without a
 * restart; the counters reach /metrics; and a file that cannot be used stops the sidecar with exit code 64.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Sidecar } from '../../../server/src/sidecar/sidecar.js';
import { RawClient, RingFile, ask, eventually, fileSidecar, ringJson, startUpstream, stopAll } from './helpers.js';
import { REPO_ROOT, startMemcached, type RunningServer } from '../../support/servers.js';
import { requirePrereq } from '../../support/prereq.js';
import { transcript } from '../../support/rawclient.js';

const EX_USAGE = 64;
const SIDECAR_MAIN = join(REPO_ROOT, 'dist', 'server', 'src', 'sidecar', 'main.js');

function statLines(reply: string): string[] {
  return reply.split('\r\n').filter((l) => l.startsWith('STAT auth_cmds ') || l.startsWith('STAT auth_errors '));
}

// One pre-auth request per step: memcached 1.6.18 reuses one response object for the pre-auth replies of a
// read, so pipelined pre-auth requests would show its overwrite, not a protocol rule.
const SCRIPT = [
  'get foo\r\n', 'mg foo v\r\n', 'ms foo 2\r\n', 'mn\r\n', 'me foo\r\n', 'stats\r\n', 'quit\r\n', 'version\r\n',
  'flush_all\r\n', 'incr n 1\r\n', 'set a 0 0\r\n', 'set a 0 0 x\r\n', 'gets a b\r\n',
  'set a 0 0 11\r\nalice wrong\r\n', 'set a 0 0 12\r\nmallory 1234\r\n', 'set a 0 0 7\r\nbobXpw2\r\n',
  'set a 0 0 2\r\nabcd', 'set key 7 100 12 noreply\r\nalice secret\r\n',
  'set k 0 0 2\r\nhi\r\nget k\r\nmg k v\r\ndelete k\r\n', 'set a 0 0 7\r\nbob pw2\r\nget a\r\n',
  'set k 0 0 2\r\nhi\r\n', 'mg k v\r\n', 'set a 0 0 12\r\nalice secret\r\n', 'delete k\r\n',
];

const AUTH_FILE = 'alice:secret\nbob:pw2\n';

const memcachedPresent = existsSync('/usr/bin/memcached');
const withMemcached = requirePrereq('memcached', memcachedPresent, '/usr/bin/memcached is not installed').describe;

let dir = '';
let ring: RingFile | undefined;
let upstream: RunningServer | undefined;
let memcached: RunningServer | undefined;
const sidecars: Sidecar[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cachalot-listen-auth-'));
  writeFileSync(join(dir, 'auth'), AUTH_FILE, { mode: 0o644 });
  upstream = await startUpstream();
  ring = new RingFile();
  ring.write(ringJson(1, [{ port: upstream.port }]));
}, 30_000);

afterAll(async () => {
  for (const s of sidecars) await s.stop();
  await stopAll([upstream, memcached]);
  ring?.remove();
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

async function authSidecar(file: string): Promise<Sidecar> {
  const s = await fileSidecar(ring!, { listenAuthFile: file });
  sidecars.push(s);
  return s;
}

withMemcached('--listen-auth-file against memcached -Y', () => {
  let sidecar: Sidecar | undefined;

  beforeAll(async () => {
    memcached = await startMemcached(['-Y', join(dir, 'auth')]);
    sidecar = await authSidecar(join(dir, 'auth'));
  }, 30_000);

  const run = async (port: number, steps: readonly string[], withStats: boolean): Promise<string[]> => {
    const c = await RawClient.connect(port);
    try {
      const replies = await transcript(c, steps);
      if (!withStats) return replies;
      const stats = (await transcript(c, ['stats\r\n']))[0]!;
      return [...replies, ...statLines(stats)];
    } finally {
      c.close();
    }
  };

  it('answers the same script with the same bytes, and counts auth_cmds and auth_errors alike', async () => {
    const expected = await run(memcached!.port, SCRIPT, true);
    const actual = await run(sidecar!.port, SCRIPT, true);
    expect(actual).toEqual(expected);
    // The script must have exercised every reply and reached the server behind the sidecar.
    const all = expected.join('');
    for (const line of ['CLIENT_ERROR unauthenticated', 'CLIENT_ERROR authentication failure',
      'CLIENT_ERROR bad authentication token format', 'CLIENT_ERROR bad command line termination']) {
      expect(all).toContain(`${line}\r\n`);
    }
    expect(all).toContain('STORED\r\nVA 2\r\nhi\r\nSTORED\r\nDELETED\r\n');
    expect(expected.slice(-2)).toEqual(['STAT auth_cmds 3', 'STAT auth_errors 2']);
  }, 60_000);

  it('closes a client that sends 2 KiB without a newline before authenticating, as memcached does', async () => {
    for (const step of ['x'.repeat(3000), `get ${'k'.repeat(3000)}`]) {
      const expected = await run(memcached!.port, [step, 'version\r\n'], false);
      const actual = await run(sidecar!.port, [step, 'version\r\n'], false);
      expect(actual).toEqual(expected);
      expect(expected).toEqual(['<closed>']);
    }
  }, 30_000);

  it('keeps a connection open after failed attempts, and one bad client costs no other', async () => {
    const good = await RawClient.connect(sidecar!.port);
    const bad = await RawClient.connect(sidecar!.port);
    try {
      expect(await ask(bad, 'set a 0 0 11\r\nalice wrong\r\n', '\r\n')).toBe('CLIENT_ERROR authentication failure\r\n');
      expect(await ask(good, 'set a 0 0 12\r\nalice secret\r\n', '\r\n')).toBe('STORED\r\n');
      expect(await ask(bad, 'get x\r\n', '\r\n')).toBe('CLIENT_ERROR unauthenticated\r\n');
      // A data block split into pieces, then requests pipelined behind the auth set.
      await bad.sendInPieces('set a 0 0 7\r\nbob pw2\r\nset p 0 0 1\r\nz\r\nget p\r\n', () => 3);
      expect((await bad.readUntil('END\r\n', 5_000, 5_000)).data.toString('latin1'))
        .toBe('STORED\r\nSTORED\r\nVALUE p 0 1\r\nz\r\nEND\r\n');
      expect(await ask(good, 'get p\r\n', 'END\r\n')).toBe('VALUE p 0 1\r\nz\r\nEND\r\n');
    } finally {
      good.close();
      bad.close();
    }
  }, 30_000);
});

describe('--listen-auth-file rotation and counters', () => {
  it('accepts new credentials once the file changes, refuses removed ones; authenticated clients stay', async () => {
    const file = join(dir, 'rotated');
    writeFileSync(file, 'alice:secret\n');
    const sidecar = await authSidecar(file);
    const attempt = async (pair: string): Promise<string> => {
      const c = await RawClient.connect(sidecar.port);
      try {
        return await ask(c, `set a 0 0 ${pair.length}\r\n${pair}\r\n`, '\r\n');
      } finally {
        c.close();
      }
    };
    const old = await RawClient.connect(sidecar.port);
    try {
      expect(await ask(old, 'set a 0 0 12\r\nalice secret\r\n', '\r\n')).toBe('STORED\r\n');
      // The operator's rotation: the new credential is added first, the old one removed later.
      writeFileSync(file, 'alice:secret\ncarol:new-one\n');
      await eventually(async () => (await attempt('carol new-one')) === 'STORED\r\n', 'the new credential accepted', 200, 50);
      expect(await attempt('alice secret')).toBe('STORED\r\n');
      writeFileSync(file, 'carol:new-one\n');
      await eventually(async () => (await attempt('alice secret')) !== 'STORED\r\n', 'the old credential refused', 200, 50);
      expect(await attempt('alice secret')).toBe('CLIENT_ERROR authentication failure\r\n');
      // A malformed file keeps the entries in use; SIGHUP (its handlers, called here without a signal)
      // re-reads the file as memcached's does.
      writeFileSync(file, 'carol:new-one\nbroken line\n');
      process.emit('SIGHUP', 'SIGHUP');
      expect(await attempt('carol new-one')).toBe('STORED\r\n');
      expect(await ask(old, 'mn\r\n', '\r\n')).toBe('MN\r\n');
    } finally {
      old.close();
    }
  }, 60_000);

  it('reports auth_cmds and auth_errors in stats and in /metrics', async () => {
    const file = join(dir, 'counted');
    writeFileSync(file, 'alice:secret\n');
    const sidecar = await authSidecar(file);
    const c = await RawClient.connect(sidecar.port);
    try {
      expect(await ask(c, 'set a 0 0 10\r\nalice nope\r\n', '\r\n')).toBe('CLIENT_ERROR authentication failure\r\n');
      expect(await ask(c, 'set a 0 0 1\r\nx\r\n', '\r\n')).toBe('CLIENT_ERROR bad authentication token format\r\n');
      expect(await ask(c, `set a 0 0 5000\r\n${'p'.repeat(5000)}\r\n`, '\r\n')).toBe('CLIENT_ERROR authentication failure\r\n');
      expect(await ask(c, 'set a 0 0 12\r\nalice secret\r\n', '\r\n')).toBe('STORED\r\n');
      expect(statLines(await ask(c, 'stats\r\n', 'END\r\n'))).toEqual(['STAT auth_cmds 3', 'STAT auth_errors 2']);
      const metrics = await sidecar.metrics.registry.metrics();
      expect(metrics).toMatch(/^cachalot_sidecar_auth_commands_total 3$/m);
      expect(metrics).toMatch(/^cachalot_sidecar_auth_errors_total 2$/m);
    } finally {
      c.close();
    }
  }, 30_000);

  it('serves without authentication when the flag is not given', async () => {
    const sidecar = await fileSidecar(ring!);
    sidecars.push(sidecar);
    const c = await RawClient.connect(sidecar.port);
    try {
      expect(await ask(c, 'mn\r\n', '\r\n')).toBe('MN\r\n');
      expect(statLines(await ask(c, 'stats\r\n', 'END\r\n'))).toEqual(['STAT auth_cmds 0', 'STAT auth_errors 0']);
    } finally {
      c.close();
    }
  }, 30_000);
});

const built = existsSync(SIDECAR_MAIN);
requirePrereq('cachalot-sidecar build (dist/)', built, `${SIDECAR_MAIN} does not exist (npm run build)`)
  .describe('a --listen-auth-file that cannot be used stops the sidecar', () => {
    const cases: Array<[string, () => string, RegExp]> = [
      ['a missing file', () => join(dir, 'nope'), /--listen-auth-file .*nope: cannot read the auth file/],
      ['a malformed file', () => {
        writeFileSync(join(dir, 'malformed'), 'alice:secret\nno colon here\n');
        return join(dir, 'malformed');
      }, /--listen-auth-file .*malformed: the auth file line 2 is malformed/],
      ['an empty file', () => {
        writeFileSync(join(dir, 'empty'), '');
        return join(dir, 'empty');
      }, /--listen-auth-file .*empty: the auth file is empty/],
      ['a directory', () => dir, /--listen-auth-file .*: cannot read the auth file: EISDIR/],
    ];
    it.each(cases)('%s: exit code 64 and a message naming the flag', (_what, file, message) => {
      const r = spawnSync(process.execPath, [SIDECAR_MAIN, '--ring-file', ring!.path, '--port', '0', '--metrics-port', '0',
        '--listen-auth-file', file()], { timeout: 15_000, encoding: 'utf8' });
      expect(r.status).toBe(EX_USAGE);
      expect(r.stderr).toMatch(message);
    });
  });
