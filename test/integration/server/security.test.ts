// -Y (ASCII authentication) and -Z (TLS) against Debian's memcached 1.6.18: the same command scripts answered
// byte for byte, plaintext with -Y and over TLS with -Z; mutual TLS; refresh_certs; auth-file reloads; hostile
// bytes on the TLS port; and bad configurations stopping the server with exit code 64.
import net from 'node:net';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startMemcached, stopServer, type RunningServer } from '../../support/servers.js';
import { RawClient, transcript } from '../../support/rawclient.js';
import { runToExit, startCachalotServer, waitFor, type Cachalot } from '../../support/cachalot.js';
import { makeCerts, type TestCerts } from '../../support/certs.js';
import { connectTls, servedName } from '../../support/tlsclient.js';
import { requireOpenssl } from '../../support/prereq.js';

const EX_USAGE = 64;

/** The lines of a stats reply with these names, in order. */
function statLines(reply: string, names: readonly string[]): string[] {
  return reply.split('\r\n').filter((l) => names.some((n) => l.startsWith(`STAT ${n} `)));
}

// Before authenticating, one request per step: memcached 1.6.18 reuses one response object for the
// pre-auth replies of a read, so pipelined pre-auth requests would show its overwrite, not a protocol rule.
const AUTH_SCRIPT = [
  'get foo\r\n', 'mg foo v\r\n', 'quit\r\n', 'version\r\n', 'set a 0 0\r\n', 'set a 0 0 x\r\n',
  'set a 0 0 11\r\nalice wrong\r\n', 'set a 0 0 12\r\nmallory 1234\r\n', 'set a 0 0 7\r\nbobXpw2\r\n',
  'set key 7 100 12 noreply\r\nalice secret\r\n',
  'set k 0 0 2\r\nhi\r\nget k\r\nmg k v\r\ndelete k\r\n', 'set a 0 0 7\r\nbob pw2\r\nget a\r\n',
];

const AUTH_FILE = 'alice:secret\nbob:pw2\n';

let certs: TestCerts | undefined;
let dir = '';

const gate = requireOpenssl();

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cachalot-security-'));
  try {
    certs = makeCerts();
  } catch {
    // requireOpenssl() reports the missing CLI on the TLS blocks.
  }
});

afterAll(() => {
  certs?.remove();
  rmSync(dir, { recursive: true, force: true });
});

describe('-Y ASCII authentication, against memcached', () => {
  let memcached: RunningServer | undefined;
  let cachalot: Cachalot | undefined;
  let authFile = '';

  beforeAll(async () => {
    authFile = join(dir, 'auth');
    writeFileSync(authFile, AUTH_FILE, { mode: 0o644 });
    [memcached, cachalot] = await Promise.all([
      startMemcached(['-Y', authFile]),
      startCachalotServer({ threads: 2, metrics: false, extra: ['-Y', authFile] }),
    ]);
  }, 30_000);

  afterAll(async () => {
    await Promise.all([stopServer(memcached), stopServer(cachalot?.server)]);
  });

  it('answers the same script with the same bytes, and counts auth_cmds and auth_errors alike', async () => {
    const run = async (port: number): Promise<string[]> => {
      const c = await RawClient.connect(port);
      try {
        const replies = await transcript(c, AUTH_SCRIPT);
        const stats = (await transcript(c, ['stats\r\n']))[0]!;
        return [...replies, ...statLines(stats, ['auth_cmds', 'auth_errors'])];
      } finally {
        c.close();
      }
    };
    const expected = await run(memcached!.port);
    const actual = await run(cachalot!.port);
    expect(actual).toEqual(expected);
    // The script must have exercised every reply, not agreed on silence.
    expect(expected).toContain('CLIENT_ERROR authentication failure\r\n');
    expect(expected).toContain('CLIENT_ERROR bad authentication token format\r\n');
    expect(expected.join('')).toContain('STORED\r\nVALUE k 0 2\r\nhi\r\nEND\r\nVA 2\r\nhi\r\nDELETED\r\n');
  }, 30_000);

  it('reloads the file on SIGHUP as memcached does, and by itself when the content changes', async () => {
    const rotated = join(dir, 'auth-rotated');
    writeFileSync(rotated, AUTH_FILE, { mode: 0o644 });
    const server = await startCachalotServer({ threads: 2, metrics: false, extra: ['-Y', rotated] });
    try {
      const old = await RawClient.connect(server.port);
      expect((await transcript(old, ['set a 0 0 12\r\nalice secret\r\n']))[0]).toBe('STORED\r\n');
      const attempt = async (pair: string): Promise<string> => {
        const c = await RawClient.connect(server.port);
        try {
          return (await transcript(c, [`set a 0 0 ${pair.length}\r\n${pair}\r\n`]))[0]!;
        } finally {
          c.close();
        }
      };
      // Rotation: the new credential is added, then the old one removed; no restart, no signal.
      writeFileSync(rotated, 'alice:secret\ncarol:new-one\n');
      await waitFor(async () => (await attempt('carol new-one')) === 'STORED\r\n', 10_000, 'new credential accepted');
      writeFileSync(rotated, 'carol:new-one\n');
      await waitFor(async () => (await attempt('alice secret')) !== 'STORED\r\n', 10_000, 'old credential refused');
      expect(await attempt('alice secret')).toBe('CLIENT_ERROR authentication failure\r\n');
      // A connection authenticated before keeps working.
      expect((await transcript(old, ['mn\r\n']))[0]).toBe('MN\r\n');
      old.close();
      // A malformed file keeps the entries in use; SIGHUP re-reads it as memcached's does.
      writeFileSync(rotated, 'carol:new-one\nbroken line\n');
      server.server.process.kill('SIGHUP');
      expect(await attempt('carol new-one')).toBe('STORED\r\n');
    } finally {
      await stopServer(server.server);
    }
  }, 40_000);
});

describe('bad security configuration stops the server with exit code 64', () => {
  const cases: Array<[string, () => string[], RegExp]> = [
    ['a missing -Y file', () => ['-Y', join(dir, 'nope')], /-Y .*nope: cannot read the auth file/],
    ['a malformed -Y file', () => {
      writeFileSync(join(dir, 'malformed'), 'alice:secret\nno colon here\n');
      return ['-Y', join(dir, 'malformed')];
    }, /-Y .*malformed: the auth file line 2 is malformed/],
    ['-o ssl_* without -Z', () => ['-o', 'ssl_verify_mode=1'], /-o ssl_verify_mode needs -Z/],
    ['-Z without a certificate', () => ['-Z'], /-Z needs -o ssl_chain_cert/],
    ['an unknown ssl_verify_mode', () => ['-Z', '-o', 'ssl_verify_mode=4'], /-o ssl_verify_mode must be 0/],
    ['an unknown ssl_min_version', () => ['-Z', '-o', 'ssl_min_version=tlsv1.9'], /-o ssl_min_version must be one of/],
  ];
  for (const [what, args, message] of cases) {
    it(what, async () => {
      const r = await runToExit(['-p', '0', '-l', '127.0.0.1', '-U', '0', '--metrics-port', '0', ...args()]);
      expect(r.listened).toBe(false);
      expect(r.code).toBe(EX_USAGE);
      expect(r.stderr).toMatch(message);
    }, 30_000);
  }

  gate.describe('with certificate files', () => {
    const tlsCases: Array<[string, (c: TestCerts) => string, RegExp]> = [
      ['a missing key file', (c) => `ssl_chain_cert=${c.serverCert},ssl_key=${join(c.dir, 'nope.key')}`, /-o ssl_key=.*Error loading the key/],
      ['a key that does not match the certificate', (c) => `ssl_chain_cert=${c.serverCert},ssl_key=${c.otherKey}`, /-o ssl_key=.*Error loading the key: .* : error:05800074:x509 certificate routines::key values mismatch/],
      ['a certificate file that is not PEM', (c) => `ssl_chain_cert=${c.serverKey},ssl_key=${c.serverKey}`, /-o ssl_chain_cert=.*Error loading the certificate chain/],
      ['a missing CA file', (c) => `ssl_chain_cert=${c.serverCert},ssl_key=${c.serverKey},ssl_ca_cert=${join(c.dir, 'nope.crt')}`, /-o ssl_ca_cert=.*Error loading the CA certificate/],
      ['ssl_verify_mode=2 without a CA', (c) => `ssl_chain_cert=${c.serverCert},ssl_key=${c.serverKey},ssl_verify_mode=2`, /ssl_verify_mode=2 needs -o ssl_ca_cert/],
    ];
    for (const [what, opts, message] of tlsCases) {
      it(what, async () => {
        const r = await runToExit(['-p', '0', '-l', '127.0.0.1', '-U', '0', '--metrics-port', '0', '-Z', '-o', opts(certs!)]);
        expect(r.listened).toBe(false);
        expect(r.code).toBe(EX_USAGE);
        expect(r.stderr).toMatch(message);
      }, 30_000);
    }
  });
});

/** A value large enough to span several TLS records (16 KiB each). */
const BIG = 'b'.repeat(100_000);

const TLS_SCRIPT = [
  'version\r\n', 'set k 5 0 5\r\nhello\r\n', 'get k\r\n', 'append k 0 0 3\r\n!!!\r\n', 'get k nokey\r\n',
  'add k 0 0 1\r\nx\r\n', 'set n 0 0 2\r\n10\r\nincr n 5\r\ndecr n 100\r\n', 'mg k s v f t\r\n', 'ms m 3 T0\r\nabc\r\n',
  'ma n D7\r\nmg n v\r\n', 'md k q\r\nmn\r\n', `set big 0 0 ${BIG.length}\r\n${BIG}\r\n`, 'get big\r\n',
  'refresh_certs\r\n', 'bogus\r\n', 'delete big\r\n',
];

gate.describe('-Z TLS, against memcached -Z', () => {
  let memcached: RunningServer | undefined;
  let cachalot: Cachalot | undefined;
  let tlsDir = '';

  beforeAll(async () => {
    const c = certs!;
    // A copy the refresh test may overwrite without disturbing the other servers.
    tlsDir = mkdtempSync(join(tmpdir(), 'cachalot-tls-'));
    const opts = `ssl_chain_cert=${c.serverCert},ssl_key=${c.serverKey},ssl_ca_cert=${c.ca}`;
    [memcached, cachalot] = await Promise.all([
      startMemcached(['-Z', '-o', opts]),
      startCachalotServer({ threads: 2, metrics: false, extra: ['-Z', '-o', opts] }),
    ]);
  }, 30_000);

  afterAll(async () => {
    await Promise.all([stopServer(memcached), stopServer(cachalot?.server)]);
    rmSync(tlsDir, { recursive: true, force: true });
  });

  it('answers the same script over TLS with the same bytes, and reports TLS in stats as memcached', async () => {
    const run = async (port: number): Promise<string[]> => {
      const { client } = await connectTls(port, { ca: certs!.ca });
      try {
        const replies = await transcript(client, TLS_SCRIPT);
        const stats = await transcript(client, ['stats\r\n', 'stats settings\r\n']);
        const settings = stats[1]!.split('\r\n').filter((l) => /^STAT (ssl_|auth_enabled)/.test(l));
        const general = stats[0]!.split('\r\n').filter((l) => /^STAT (ssl_|time_since_server_cert_refresh)/.test(l))
          .map((l) => l.replace(/ \d+$/, ' <n>'));
        return [...replies, ...settings, ...general];
      } finally {
        client.close();
      }
    };
    const expected = await run(memcached!.port);
    const actual = await run(cachalot!.port);
    expect(actual).toEqual(expected);
    expect(expected).toContain(`VALUE big 0 ${BIG.length}\r\n${BIG}\r\nEND\r\n`);
    expect(expected).toContain('OK\r\n');
    expect(expected).toContain('STAT ssl_enabled yes');
  }, 30_000);

  it('drops a plaintext client on the TLS port and keeps serving TLS clients', async () => {
    for (const port of [memcached!.port, cachalot!.port]) {
      const plain = await RawClient.connect(port);
      await plain.send('get foo\r\n');
      const got = await plain.read(() => false, 2_000, 5_000);
      expect(got.end).toBe('eof');
      expect(got.data.toString('latin1')).not.toContain('END');
    }
    const { client } = await connectTls(cachalot!.port, { ca: certs!.ca });
    expect((await transcript(client, ['mn\r\n']))[0]).toBe('MN\r\n');
    client.close();
  }, 20_000);

  it('survives garbage, truncated handshakes and many half-open handshakes, and counts them', async () => {
    const port = cachalot!.port;
    const before = await statValue(port, 'ssl_handshake_errors');
    const hello = await captureClientHello();
    const halfOpen: net.Socket[] = [];
    try {
      // Bounded: 200 connections that send part of a ClientHello and stop (the server's -c is 1024).
      for (let i = 0; i < 200; i++) {
        const s = net.connect({ port, host: '127.0.0.1' });
        s.on('error', () => {});
        s.write(hello.subarray(0, 1 + (i % (hello.length - 1))));
        halfOpen.push(s);
      }
      for (const junk of [Buffer.from('\x16\x03\x01\xff\xff garbage'), Buffer.alloc(4096, 0x41), hello.subarray(0, 5)]) {
        const c = await RawClient.connect(port);
        await c.send(junk);
        c.close();
      }
      const { client } = await connectTls(port, { ca: certs!.ca });
      expect((await transcript(client, ['set z 0 0 1\r\nz\r\nget z\r\n']))[0]).toBe('STORED\r\nVALUE z 0 1\r\nz\r\nEND\r\n');
      client.close();
    } finally {
      for (const s of halfOpen) s.destroy();
    }
    await waitFor(async () => (await statValue(port, 'ssl_handshake_errors')) >= before + 203, 10_000, 'handshake errors counted');
    expect(cachalot!.server.process.exitCode).toBeNull();
  }, 40_000);

  /** A server with -Z on copies of the first certificate and key (tlsDir/chain.pem, key.pem). */
  async function startWithFirstCert(threads: number): Promise<Cachalot> {
    copyFileSync(certs!.serverCert, join(tlsDir, 'chain.pem'));
    copyFileSync(certs!.serverKey, join(tlsDir, 'key.pem'));
    return startCachalotServer({
      threads, metrics: false,
      extra: ['-Z', '-o', `ssl_chain_cert=${join(tlsDir, 'chain.pem')},ssl_key=${join(tlsDir, 'key.pem')}`],
    });
  }

  it('after refresh_certs, a thread that has not accepted since serves what the refresh loaded, not files changed after it', async () => {
    const c = certs!;
    const server = await startWithFirstCert(2);
    try {
      const old = await connectTls(server.port, { ca: c.ca });
      copyFileSync(c.server2Cert, join(tlsDir, 'chain.pem'));
      copyFileSync(c.server2Key, join(tlsDir, 'key.pem'));
      expect((await transcript(old.client, ['refresh_certs\r\n']))[0]).toBe('OK\r\n');
      // The bytes reach the other thread through the main thread (a message each way); then the key is
      // replaced by one that does not fit (a renewal half written) before any new connection.
      await new Promise((r) => setTimeout(r, 300));
      copyFileSync(c.otherKey, join(tlsDir, 'key.pem'));
      // Twelve connections: the kernel spreads them over both threads (all on one: 1 in 2,048).
      for (let i = 0; i < 12; i++) {
        const fresh = await connectTls(server.port, { ca: c.ca });
        expect(servedName(fresh.socket)).toBe('cachalot-b');
        fresh.client.close();
      }
      old.client.close();
    } finally {
      await stopServer(server.server);
    }
  });

  it('refresh_certs serves the new files to new connections while an old connection keeps working', async () => {
    const c = certs!;
    const server = await startWithFirstCert(2);
    try {
      const old = await connectTls(server.port, { ca: c.ca });
      expect(servedName(old.socket)).toBe('cachalot-a');
      copyFileSync(c.server2Cert, join(tlsDir, 'chain.pem'));
      copyFileSync(c.server2Key, join(tlsDir, 'key.pem'));
      // Before the command, new connections still get the files loaded at start.
      const before = await connectTls(server.port, { ca: c.ca });
      expect(servedName(before.socket)).toBe('cachalot-a');
      before.client.close();
      expect((await transcript(old.client, ['refresh_certs\r\n']))[0]).toBe('OK\r\n');
      // Every worker thread serves the new certificate: several connections, spread by the kernel.
      for (let i = 0; i < 6; i++) {
        const fresh = await connectTls(server.port, { ca: c.ca });
        expect(servedName(fresh.socket)).toBe('cachalot-b');
        fresh.client.close();
      }
      expect((await transcript(old.client, ['set o 0 0 1\r\no\r\nget o\r\n']))[0]).toBe('STORED\r\nVALUE o 0 1\r\no\r\nEND\r\n');
      // A key that no longer fits its certificate: refresh_certs says so in memcached's words (noreply does
      // not silence an error), and the files in use stay.
      copyFileSync(c.otherKey, join(tlsDir, 'key.pem'));
      const failed = (await transcript(old.client, ['refresh_certs noreply\r\n']))[0]!;
      expect(failed).toBe(`Error loading the key: ${join(tlsDir, 'key.pem')} : error:05800074:x509 certificate routines::key values mismatch\r\n`);
      const after = await connectTls(server.port, { ca: c.ca });
      expect(servedName(after.socket)).toBe('cachalot-b');
      after.client.close();
      old.client.close();
    } finally {
      await stopServer(server.server);
    }
  }, 40_000);

  it('worker threads start from the files the server checked: a key replaced at start does not stop it', async () => {
    const c = certs!;
    const server = await startWithFirstCert(4);
    try {
      // The first worker listens; the others are still starting. A key that no longer fits the certificate
      // (a renewal half written) must not reach them: they serve what the main thread checked at start.
      copyFileSync(c.otherKey, join(tlsDir, 'key.pem'));
      await new Promise((r) => setTimeout(r, 1_000));
      expect(server.server.process.exitCode).toBeNull();
      for (let i = 0; i < 8; i++) {
        const fresh = await connectTls(server.port, { ca: c.ca });
        expect(servedName(fresh.socket)).toBe('cachalot-a');
        fresh.client.close();
      }
      expect(await statValue(server.port, 'threads')).toBe(4);
    } finally {
      await stopServer(server.server);
    }
  }, 40_000);

  it('-o ssl_refresh_on_change serves changed files to new connections without refresh_certs, once they fit', async () => {
    const c = certs!;
    const watched = mkdtempSync(join(tmpdir(), 'cachalot-tls-watch-'));
    copyFileSync(c.serverCert, join(watched, 'chain.pem'));
    copyFileSync(c.serverKey, join(watched, 'key.pem'));
    const server = await startCachalotServer({
      threads: 2, metrics: false,
      extra: ['-Z', '-o', `ssl_chain_cert=${join(watched, 'chain.pem')},ssl_key=${join(watched, 'key.pem')},ssl_refresh_on_change`],
    });
    try {
      const old = await connectTls(server.port, { ca: c.ca });
      expect(servedName(old.socket)).toBe('cachalot-a');
      // Half a renewal: the new certificate beside the old key does not load, so nothing changes.
      copyFileSync(c.server2Cert, join(watched, 'chain.pem'));
      const half = await connectTls(server.port, { ca: c.ca });
      expect(servedName(half.socket)).toBe('cachalot-a');
      half.client.close();
      copyFileSync(c.server2Key, join(watched, 'key.pem'));
      await waitFor(async () => {
        const fresh = await connectTls(server.port, { ca: c.ca });
        const name = servedName(fresh.socket);
        fresh.client.close();
        return name === 'cachalot-b';
      }, 10_000, 'the new certificate served');
      // Every worker thread: several connections, spread by the kernel.
      for (let i = 0; i < 6; i++) {
        const fresh = await connectTls(server.port, { ca: c.ca });
        expect(servedName(fresh.socket)).toBe('cachalot-b');
        fresh.client.close();
      }
      expect((await transcript(old.client, ['set o 0 0 1\r\no\r\nget o\r\n']))[0]).toBe('STORED\r\nVALUE o 0 1\r\no\r\nEND\r\n');
      old.client.close();
    } finally {
      await stopServer(server.server);
      rmSync(watched, { recursive: true, force: true });
    }
  }, 40_000);
});

gate.describe('-Z with ssl_verify_mode=2 (mutual TLS)', () => {
  let cachalot: Cachalot | undefined;
  let memcached: RunningServer | undefined;

  beforeAll(async () => {
    const c = certs!;
    const opts = `ssl_chain_cert=${c.serverCert},ssl_key=${c.serverKey},ssl_ca_cert=${c.ca},ssl_verify_mode=2`;
    [memcached, cachalot] = await Promise.all([
      startMemcached(['-Z', '-o', opts]),
      startCachalotServer({ threads: 2, metrics: false, extra: ['-Z', '-o', opts] }),
    ]);
  }, 30_000);

  afterAll(async () => {
    await Promise.all([stopServer(memcached), stopServer(cachalot?.server)]);
  });

  /** What a client gets: 'served' when `mn` is answered, else 'refused'. */
  async function outcome(port: number, files: { ca: string; cert?: string; key?: string }): Promise<string> {
    try {
      const { client } = await connectTls(port, files);
      // With TLS 1.3 the server's verdict on the client's certificate arrives after the client's handshake.
      const reply = (await transcript(client, ['mn\r\n']))[0];
      client.close();
      return reply === 'MN\r\n' ? 'served' : 'refused';
    } catch {
      return 'refused';
    }
  }

  it('serves a client with a certificate from the CA and refuses one without, or from another CA, as memcached', async () => {
    const c = certs!;
    const clients = [
      { ca: c.ca, cert: c.clientCert, key: c.clientKey },
      { ca: c.ca },
      { ca: c.ca, cert: c.strangerCert, key: c.strangerKey },
    ];
    const expected = [];
    const actual = [];
    for (const files of clients) {
      expected.push(await outcome(memcached!.port, files));
      actual.push(await outcome(cachalot!.port, files));
    }
    expect(expected).toEqual(['served', 'refused', 'refused']);
    expect(actual).toEqual(expected);
  }, 30_000);

  it('still requires a client certificate after refresh_certs', async () => {
    const c = certs!;
    const { client } = await connectTls(cachalot!.port, { ca: c.ca, cert: c.clientCert, key: c.clientKey });
    expect((await transcript(client, ['refresh_certs\r\n']))[0]).toBe('OK\r\n');
    client.close();
    expect(await outcome(cachalot!.port, { ca: c.ca })).toBe('refused');
    expect(await outcome(cachalot!.port, { ca: c.ca, cert: c.clientCert, key: c.clientKey })).toBe('served');
  }, 30_000);
});

async function statValue(port: number, name: string): Promise<number> {
  const { client } = await connectTls(port, { ca: certs!.ca });
  try {
    const reply = (await transcript(client, ['stats\r\n']))[0]!;
    const line = statLines(reply, [name])[0];
    if (line === undefined) throw new Error(`no ${name} in stats`);
    return Number(line.split(' ')[2]);
  } finally {
    client.close();
  }
}

/** The first bytes a TLS client sends (its ClientHello), captured by a listener that never answers. */
function captureClientHello(): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const listener = net.createServer((sock) => {
      sock.once('data', (d: Buffer) => {
        sock.destroy();
        listener.close();
        resolve(d);
      });
    });
    listener.listen(0, '127.0.0.1', () => {
      const port = (listener.address() as net.AddressInfo).port;
      connectTls(port, { ca: certs!.ca }, 2_000).catch(() => {});
    });
    listener.on('error', reject);
  });
}
