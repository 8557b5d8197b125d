// Process lifecycle: SIGTERM and SIGINT with requests in flight (every request already sent is answered in
// full, then the connection closes, the process exits 0, new connections are not served), /healthz and
// /readyz around a shutdown, the `shutdown` command with and without -A, and command lines that must not
// start a server.
import net from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { CACHALOT_MAIN, REPO_ROOT, startMemcached, stopServer, type RunningServer } from '../../support/servers.js';
import { RawClient } from '../../support/rawclient.js';
import {
  exitOf, httpGet, limitConcurrency, runToExit, type ExitResult, sleep, startCachalotServer, waitFor, type Cachalot,
} from '../../support/cachalot.js';
import { McClient, storageCommand, type Reply, type ReplyShape } from '../../support/mcclient.js';

const MiB = 1024 * 1024;

/** Connects and asks for `version`: 'served', or how the server turned the connection away. */
async function newConnectionOutcome(port: number): Promise<'served' | 'refused' | 'closed without a reply' | 'no reply'> {
  let client: RawClient;
  try {
    client = await RawClient.connect(port, 2_000);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED') return 'refused';
    throw err;
  }
  try {
    await client.send('version\r\n');
    const r = await client.read((d) => d.includes('\r\n'), 1_500, 3_000);
    if (r.data.toString('latin1') === 'VERSION 1.6.18\r\n') return 'served';
    if (r.data.length === 0 && r.end === 'eof') return 'closed without a reply';
    return 'no reply';
  } finally {
    client.close();
  }
}

/** Reads a paused socket to its end (bounded), then returns every byte it received. */
function readToEnd(sock: net.Socket, timeoutMs: number): Promise<{ data: Buffer; ended: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => finish(false), timeoutMs);
    const finish = (ended: boolean): void => {
      clearTimeout(timer);
      sock.removeAllListeners('data');
      resolve({ data: Buffer.concat(chunks), ended });
    };
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.once('end', () => finish(true));
    sock.once('close', () => finish(true));
    sock.resume();
  });
}

describe.each(['SIGTERM', 'SIGINT'] as const)('%s with requests in flight', (signal) => {
  const BIG = randomBytes(100 * 1024);
  // 30 MB of replies asked for by single gets: far past what the server writes ahead for a non-reader (its 4 MiB
  // output limit plus what the kernel's socket buffers take, up to ~10 MB more on loopback).
  const SINGLE_GETS = 300;
  const MULTI_GETS = 5; // then 5 lines of 20 keys
  const PIPELINED = 4;
  const DEPTH = 300;
  let cachalot: Cachalot;
  let control: McClient;
  let slow: net.Socket;
  let partial: McClient;
  const pipelined: Array<Promise<Reply[]>> = [];
  const expectedPipelined: string[] = [];
  const outcomes: { readyzDuring?: number; newConnection?: string; exit?: { code: number | null; signal: string | null } | null } = {};

  beforeAll(async () => {
    cachalot = await startCachalotServer({ threads: 4 });
    control = await McClient.connect(cachalot.port);
    expect((await control.request(storageCommand('set', 'big', BIG), 'line')).line).toBe('STORED');

    // 1. A client that sent 200 gets of a 100 KiB value and reads nothing yet: most are not answered.
    slow = net.connect({ port: cachalot.port, host: '127.0.0.1' });
    slow.on('error', () => {});
    await new Promise<void>((resolve) => slow.once('connect', () => resolve()));
    slow.pause();
    slow.write('get big\r\n'.repeat(SINGLE_GETS));
    // 2. Clients with deep pipelines of small commands.
    for (let c = 0; c < PIPELINED; c++) {
      const client = await McClient.connect(cachalot.port);
      let request = '';
      let expected = '';
      const shapes: ReplyShape[] = [];
      for (let i = 0; i < DEPTH; i++) {
        const value = `c${c}-${i}`;
        request += `set k${c} 0 0 ${value.length}\r\n${value}\r\nget k${c}\r\n`;
        expected += `STORED\r\nVALUE k${c} 0 ${value.length}\r\n${value}\r\nEND\r\n`;
        shapes.push('line', 'values');
      }
      pipelined.push(client.pipeline(request, shapes).then((replies) => client.closed.then(() => replies)));
      expectedPipelined.push(expected);
    }
    // 3. A client in the middle of a set: header and half of its data block sent.
    partial = await McClient.connect(cachalot.port);
    partial.socket.write('set half 0 0 10\r\n01234');
    // The server has written what it will write ahead to the non-reader: bytes_written stops growing.
    let last = -1;
    let lastReply = 0;
    for (let i = 0; i < 50; i++) {
      const reply = await control.request('stats\r\n', 'stats');
      const now = Number(reply.stats.get('bytes_written'));
      if (now - last === lastReply) break;
      last = now;
      lastReply = reply.raw.length;
      await sleep(200);
    }
    expect(last).toBeLessThan(SINGLE_GETS * BIG.length * 0.8); // so requests were in flight at the signal
    // The second half arrives while the server has stopped reading this client: it waits in the kernel's
    // receive buffer, received but not yet read, when the signal comes.
    // As multi-get lines of 20 keys (2 MB of replies each), which the server answers in several yields.
    slow.write('get big big big big big big big big big big big big big big big big big big big big\r\n'.repeat(MULTI_GETS));
    await sleep(100);
    control.close();

    cachalot.server.process.kill(signal);
    // The non-reader holds the drain open: the server must say not-ready meanwhile.
    await waitFor(async () => {
      outcomes.readyzDuring = (await httpGet(cachalot.metricsPort, '/readyz').catch(() => ({ status: -1 }))).status;
      return outcomes.readyzDuring !== 200;
    }, 5_000, '/readyz to change');
    outcomes.newConnection = await newConnectionOutcome(cachalot.port);
  });

  afterAll(async () => {
    slow?.destroy();
    partial?.close();
    control?.close();
    await stopServer(cachalot?.server);
  });

  it('/readyz answers 503 while draining', () => {
    expect(outcomes.readyzDuring).toBe(503);
  });

  it('a new connection after the signal is not served', () => {
    expect(['refused', 'closed without a reply']).toContain(outcomes.newConnection);
  });

  it('a set whose data block completes after the signal is stored and answered, then closed', async () => {
    const reply = await partial.request('56789\r\n', 'line').catch((e: Error) => ({ line: `(${e.message})` }));
    expect(reply.line).toBe('STORED');
    await partial.closed;
  });

  it('every pipelined request is answered in order, then the connection closes', async () => {
    const replies = await Promise.all(pipelined);
    replies.forEach((r, c) => {
      expect(Buffer.concat(r.map((x) => x.raw)).toString('latin1')).toBe(expectedPipelined[c]);
    });
  });

  it('the client that was not reading gets all 400 values (300 gets, 5 multi-gets of 20) in full, then EOF', async () => {
    const { data, ended } = await readToEnd(slow, 20_000);
    const one = Buffer.concat([Buffer.from(`VALUE big 0 ${BIG.length}\r\n`), BIG, Buffer.from('\r\nEND\r\n')]);
    const value = Buffer.concat([Buffer.from(`VALUE big 0 ${BIG.length}\r\n`), BIG, Buffer.from('\r\n')]);
    const multi = Buffer.concat([...new Array(20).fill(value), Buffer.from('END\r\n')]);
    const expected = Buffer.concat([...new Array(SINGLE_GETS).fill(one), ...new Array(MULTI_GETS).fill(multi)]);
    expect(data.length).toBe(expected.length);
    expect(data.equals(expected)).toBe(true);
    expect(ended).toBe(true);
  });

  it('the process exits 0, and its ports refuse connections', async () => {
    outcomes.exit = await exitOf(cachalot.server.process, 10_000);
    expect(outcomes.exit).toEqual({ code: 0, signal: null });
    expect(await newConnectionOutcome(cachalot.port)).toBe('refused');
    await expect(httpGet(cachalot.metricsPort, '/readyz')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});

describe('new connections during a drain', () => {
  let cachalot: Cachalot;
  let slow: net.Socket;

  beforeAll(async () => {
    cachalot = await startCachalotServer({ threads: 2 });
    const control = await McClient.connect(cachalot.port);
    expect((await control.request(storageCommand('set', 'big', randomBytes(MiB / 2)), 'line')).line).toBe('STORED');
    control.close();
    slow = net.connect({ port: cachalot.port, host: '127.0.0.1' });
    slow.on('error', () => {});
    await new Promise<void>((resolve) => slow.once('connect', () => resolve()));
    slow.pause();
    slow.write('get big\r\n'.repeat(40));
  });

  afterAll(async () => {
    slow?.destroy();
    await stopServer(cachalot?.server);
  });

  it('are refused by the kernel (the listening socket is closed), not accepted and then dropped', async () => {
    const attempt = (): Promise<string> => new Promise<string>((resolve) => {
      const sock = net.connect({ port: cachalot.port, host: '127.0.0.1' });
      sock.once('connect', () => {
        sock.destroy();
        resolve('connected');
      });
      sock.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    });
    cachalot.server.process.kill('SIGTERM');
    // The signal reaches the worker threads by message: allow that hop, bounded, then the port must refuse
    // while the drain (held open by the non-reader) is still going on.
    let last = '';
    await waitFor(async () => (last = await attempt()) === 'ECONNREFUSED', 5_000, 'ECONNREFUSED').catch(() => undefined);
    expect(last).toBe('ECONNREFUSED');
    expect(cachalot.server.process.exitCode).toBeNull();
    expect((await httpGet(cachalot.metricsPort, '/readyz')).status).toBe(503);
  });
});

describe('--shutdown-timeout bounds a drain that cannot finish', () => {
  let cachalot: Cachalot;
  let stuck: McClient;
  let nonReader: net.Socket;

  beforeAll(async () => {
    cachalot = await startCachalotServer({ threads: 2, extra: ['--shutdown-timeout', '1'] });
    const control = await McClient.connect(cachalot.port);
    expect((await control.request(storageCommand('set', 'big', randomBytes(MiB / 2)), 'line')).line).toBe('STORED');
    control.close();
    // One client stops in the middle of a data block, another never reads 20 MB of replies.
    stuck = await McClient.connect(cachalot.port);
    stuck.socket.write('set never 0 0 100\r\nonly part of it');
    nonReader = net.connect({ port: cachalot.port, host: '127.0.0.1' });
    nonReader.on('error', () => {});
    await new Promise<void>((resolve) => nonReader.once('connect', () => resolve()));
    nonReader.pause();
    nonReader.write('get big\r\n'.repeat(40));
  });

  afterAll(async () => {
    stuck?.close();
    nonReader?.destroy();
    await stopServer(cachalot?.server);
  });

  it('SIGTERM: the process still exits 0 once the deadline passes, and both clients are disconnected', async () => {
    cachalot.server.process.kill('SIGTERM');
    expect(await exitOf(cachalot.server.process, 10_000)).toEqual({ code: 0, signal: null });
    await stuck.closed;
    expect(stuck.isClosed).toBe(true);
  });
});

describe('other signals, as memcached 1.6 handles them', () => {
  let hup: Cachalot;
  let usr1: Cachalot;
  let memcached: RunningServer;

  beforeAll(async () => {
    [hup, usr1, memcached] = await Promise.all([
      startCachalotServer({ threads: 2, metrics: false }),
      startCachalotServer({ threads: 2, metrics: false }),
      startMemcached(),
    ]);
  });

  afterAll(async () => {
    await Promise.all([stopServer(hup?.server), stopServer(usr1?.server), stopServer(memcached)]);
  });

  it('SIGHUP: the server keeps serving (a terminal hang-up or a log-rotation HUP must not kill the cache)', async () => {
    const after = async (server: RunningServer): Promise<unknown> => {
      server.process.kill('SIGHUP');
      const exited = await exitOf(server.process, 1_000);
      return { exited, version: await newConnectionOutcome(server.port) };
    };
    const [theirs, mine] = await Promise.all([after(memcached), after(hup.server)]);
    expect(theirs).toEqual({ exited: null, version: 'served' });
    expect(mine).toEqual(theirs);
  });

  it('SIGUSR1: a graceful stop with exit 0, not a debugger listening on 127.0.0.1:9229', async () => {
    const stop = async (server: RunningServer): Promise<unknown> => {
      server.process.kill('SIGUSR1');
      return exitOf(server.process, 5_000);
    };
    const [theirs, mine] = await Promise.all([stop(memcached), stop(usr1.server)]);
    expect(theirs).toEqual({ code: 0, signal: null });
    expect(usr1.server.output()).not.toContain('Debugger listening');
    expect(mine).toEqual(theirs);
  });
});

describe('SIGTERM during start-up', () => {
  it('right after the first worker listens (the others still attaching): exit 0, no fatal log', async () => {
    const child = spawn(process.execPath, [CACHALOT_MAIN, '-p', '0', '-l', '127.0.0.1', '-t', '4', '--metrics-port', '0'], {
      cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    let signalled = false;
    const onOutput = (c: Buffer): void => {
      output += c.toString('utf8');
      if (!signalled && output.includes('"msg":"listening"')) {
        signalled = true;
        child.kill('SIGTERM');
      }
    };
    child.stdout.on('data', onOutput);
    child.stderr.on('data', onOutput);
    try {
      const exit = await exitOf(child, 15_000);
      expect(signalled).toBe(true);
      expect(output.split('\n').filter((l) => l.includes('"level":60'))).toEqual([]);
      expect(exit).toEqual({ code: 0, signal: null });
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('configuration sources: defaults < --config file < CACHALOT_* environment < command line', () => {
  let cachalot: Cachalot;

  beforeAll(async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'cachalot-config-')), 'cachalot.yaml');
    writeFileSync(file, 'threads: 3\nmemory-limit: 16\nconn-limit: 77\n');
    cachalot = await startCachalotServer({
      threads: 0, memoryMb: 0, metrics: false,
      env: { CACHALOT_THREADS: '2', CACHALOT_MEMORY_MB: '20' },
      extra: ['--config', file, '-m', '24'],
    });
  });

  afterAll(async () => {
    await stopServer(cachalot?.server);
  });

  it('takes -m from the command line, threads from the environment, and -c from the file', async () => {
    const c = await McClient.connect(cachalot.port);
    try {
      const stats = await c.stats();
      expect({
        threads: stats.get('threads'), limit: stats.get('limit_maxbytes'), maxConnections: stats.get('max_connections'),
      }).toEqual({ threads: '2', limit: String(24 * MiB), maxConnections: '77' });
    } finally {
      c.close();
    }
  });
});

describe('HTTP health endpoints', () => {
  let cachalot: Cachalot;

  beforeAll(async () => {
    cachalot = await startCachalotServer({ threads: 2 });
  });

  afterAll(async () => {
    await stopServer(cachalot?.server);
  });

  it('/healthz and /readyz answer 200 while serving; an unknown path 404', async () => {
    expect((await httpGet(cachalot.metricsPort, '/healthz')).status).toBe(200);
    expect((await httpGet(cachalot.metricsPort, '/readyz')).status).toBe(200);
    expect((await httpGet(cachalot.metricsPort, '/nope')).status).toBe(404);
  });
});

describe('the shutdown command', () => {
  let plain: Cachalot;
  let enabled: Cachalot;
  let memcached: RunningServer;
  let memcachedEnabled: RunningServer;

  beforeAll(async () => {
    [plain, enabled, memcached, memcachedEnabled] = await Promise.all([
      startCachalotServer({ threads: 2, metrics: false }),
      startCachalotServer({ threads: 2, extra: ['-A'] }),
      startMemcached(),
      startMemcached(['-A']),
    ]);
  });

  afterAll(async () => {
    await Promise.all([stopServer(plain?.server), stopServer(enabled?.server), stopServer(memcached), stopServer(memcachedEnabled)]);
  });

  it('without -A: "ERROR: shutdown not enabled", the connection stays open, as memcached', async () => {
    const run = async (port: number): Promise<string> => {
      const c = await RawClient.connect(port);
      try {
        await c.send('shutdown\r\n');
        const first = (await c.readUntil('\r\n')).data.toString('latin1');
        await c.send('version\r\n');
        return first + (await c.readUntil('\r\n')).data.toString('latin1');
      } finally {
        c.close();
      }
    };
    const [mine, theirs] = await Promise.all([run(plain.port), run(memcached.port)]);
    expect(theirs).toBe('ERROR: shutdown not enabled\r\nVERSION 1.6.18\r\n');
    expect(mine).toBe(theirs);
    expect(plain.server.process.exitCode).toBeNull();
  });

  it('with -A: the connection closes without a reply and the process exits 0, as memcached', async () => {
    const run = async (server: RunningServer): Promise<unknown> => {
      const c = await RawClient.connect(server.port);
      await c.send('shutdown\r\n');
      const r = await c.read(() => false, 5_000, 5_000);
      c.close();
      return { reply: r.data.toString('latin1'), end: r.end, exit: await exitOf(server.process, 10_000) };
    };
    const [mine, theirs] = await Promise.all([run(enabled.server), run(memcachedEnabled)]);
    expect(theirs).toEqual({ reply: '', end: 'eof', exit: { code: 0, signal: null } });
    expect(mine).toEqual(theirs);
  });
});

describe('invalid command lines stop the server with a message naming the flag', () => {
  const cases: Array<[string[], string]> = [
    [['-m', 'abc'], '-m'],
    [['-m', '1'], '-m'],
    [['-t', '0'], '-t'],
    [['-p', '70000'], '-p'],
    [['-c', '0'], '-c'],
    [['-I', '2k'], '-I'],
    [['-I', '4x'], '-I'],
    [['-I', '64m'], '-I'], // more than half of -m 64
    [['-m', '16', '-I', '9m'], '-I'],
    [['-o', 'bogus_option=1'], 'bogus_option'],
    [['-o', 'idle_timeout=soon'], 'idle_timeout'],
    [['-d'], '-d'],
    [['--metrics-port', '70000'], '--metrics-port'],
  ];
  /** The same checks for values that come from the environment and from --config. */
  const configFile = join(mkdtempSync(join(tmpdir(), 'cachalot-lifecycle-')), 'bad.yaml');
  writeFileSync(configFile, 'threads: 0\n');
  const sources: Array<[string, string[], NodeJS.ProcessEnv, string]> = [
    ['CACHALOT_MEMORY_MB=abc', [], { CACHALOT_MEMORY_MB: 'abc' }, 'CACHALOT_MEMORY_MB'],
    ['CACHALOT_THREADS=0', [], { CACHALOT_THREADS: '0' }, 'CACHALOT_THREADS'],
    ['--config with threads: 0', ['--config', configFile], {}, 'threads'],
  ];

  // Every command line is run at once (node's start-up dominates, and the machine is shared); each test then
  // checks its own result.
  const results = new Map<string, Promise<ExitResult>>();
  const BASE = ['-p', '0', '-l', '127.0.0.1', '--metrics-port', '0'];

  beforeAll(() => {
    // Port 0 and no HTTP listener: if the flags were (wrongly) accepted, nothing collides, and runToExit kills
    // the server as soon as it logs that it listens.
    const run = limitConcurrency(4);
    for (const [args] of cases) results.set(args.join(' '), run(() => runToExit([...BASE, ...args])));
    results.set('-m 8 -I 4m', run(() => runToExit([...BASE, '-m', '8', '-I', '4m'])));
    for (const [name, args, env] of sources) results.set(name, run(() => runToExit([...BASE, ...args], undefined, env)));
  });

  it.each(sources)('%s exits non-zero naming it', async (name, _args, _env, flag) => {
    const r = await results.get(name)!;
    expect({ listened: r.listened, timedOut: r.timedOut, code: r.code === 0 ? 0 : 'non-zero' }).toEqual({ listened: false, timedOut: false, code: 'non-zero' });
    expect(r.stderr + r.stdout).toContain(flag);
  });

  afterAll(async () => {
    await Promise.all(results.values());
  });

  it.each(cases)('%j exits non-zero naming %s', async (args, flag) => {
    const r = await results.get(args.join(' '))!;
    expect({ listened: r.listened, timedOut: r.timedOut, code: r.code === 0 ? 0 : 'non-zero' }).toEqual({ listened: false, timedOut: false, code: 'non-zero' });
    expect(r.stderr + r.stdout).toContain(flag);
  });

  it('-I exactly half of -m starts (the bound is inclusive, as memcached\'s)', async () => {
    // memcached 1.6.18 runs with -m 8 -I 4m (its check is item_size_max > maxbytes / 2).
    const r = await results.get('-m 8 -I 4m')!;
    expect({ listened: r.listened, stderr: r.stderr }).toEqual({ listened: true, stderr: '' });
  });
});
