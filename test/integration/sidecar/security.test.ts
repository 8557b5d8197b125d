/**
 * The sidecar towards servers that require TLS with client certificates (-Z, ssl_verify_mode=2) and ASCII
 * authentication (-Y), while the application speaks plaintext to the sidecar: requests are served, a
 * credential rotation on both sides reaches new upstream connections, and wrong credentials fail the
 * upstream, not the sidecar.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Sidecar } from '../../../server/src/sidecar/sidecar.js';
import { RawClient, RingFile, ask, eventually, fileSidecar, ringJson } from './helpers.js';
import { startCachalotServer, type Cachalot } from '../../support/cachalot.js';
import { stopServer } from '../../support/servers.js';
import { makeCerts, type TestCerts } from '../../support/certs.js';
import { connectTls } from '../../support/tlsclient.js';
import { requireOpenssl } from '../../support/prereq.js';

let certs: TestCerts | undefined;
let dir = '';
let server: Cachalot | undefined;
let ring: RingFile | undefined;
const sidecars: Sidecar[] = [];

/** Asks made by authStats: each is one auth command of its own on the server. */
let statAsks = 0;

/**
 * The server's auth_cmds (less the ones authStats made itself), auth_errors and ssl_handshake_errors, asked
 * over TLS with the client certificate, authenticating as `pair`.
 */
async function authStats(pair: string): Promise<{ cmds: number; errors: number; handshakeErrors: number }> {
  statAsks++;
  const c = certs!;
  const { client } = await connectTls(server!.port, { ca: c.ca, cert: c.clientCert, key: c.clientKey });
  try {
    expect(await ask(client, `set a 0 0 ${pair.length}\r\n${pair}\r\n`, '\r\n')).toBe('STORED\r\n');
    const stats = await ask(client, 'stats\r\n', 'END\r\n');
    const value = (name: string): number => Number(/STAT (\S+) (\d+)/.exec(stats.split('\r\n').find((l) => l.startsWith(`STAT ${name} `)) ?? '')?.[2]);
    return { cmds: value('auth_cmds') - statAsks, errors: value('auth_errors'), handshakeErrors: value('ssl_handshake_errors') };
  } finally {
    client.close();
  }
}

/**
 * Whether the server accepts `pair` now (one auth command of its own, like authStats's): a rotation reaches
 * the server when its file watcher reloads, so the first tries after a write may be refused.
 */
async function accepts(pair: string): Promise<boolean> {
  statAsks++;
  const c = certs!;
  const { client } = await connectTls(server!.port, { ca: c.ca, cert: c.clientCert, key: c.clientKey });
  try {
    return (await ask(client, `set a 0 0 ${pair.length}\r\n${pair}\r\n`, '\r\n')) === 'STORED\r\n';
  } finally {
    client.close();
  }
}

requireOpenssl().describe('sidecar with --tls-ca/--tls-cert/--tls-key and --auth-file', () => {
  let serverAuth = '';
  let sidecarAuth = '';

  beforeAll(async () => {
    certs = makeCerts();
    const c = certs;
    dir = mkdtempSync(join(tmpdir(), 'cachalot-sidecar-security-'));
    serverAuth = join(dir, 'server-auth');
    sidecarAuth = join(dir, 'sidecar-auth');
    writeFileSync(serverAuth, 'alice:secret\n');
    writeFileSync(sidecarAuth, 'alice secret\n');
    server = await startCachalotServer({
      threads: 2, metrics: false,
      // A short idle timeout closes the sidecar's upstream connection between test steps, so the next
      // request opens a new one with the sidecar's current credentials.
      extra: ['-Y', serverAuth, '-Z', '-o', `ssl_chain_cert=${c.serverCert},ssl_key=${c.serverKey},ssl_ca_cert=${c.ca},ssl_verify_mode=2,idle_timeout=1`],
    });
    ring = new RingFile();
    ring.write(ringJson(1, [{ port: server.port }]));
  }, 60_000);

  afterAll(async () => {
    for (const s of sidecars) await s.stop();
    await stopServer(server?.server);
    ring?.remove();
    certs?.remove();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  test('plaintext to the sidecar, TLS and auth to the server; a rotation reaches new upstream connections', async () => {
    const c = certs!;
    const sidecar = await fileSidecar(ring!, {
      upstreamSecurity: { tlsCa: c.ca, tlsCert: c.clientCert, tlsKey: c.clientKey, authFile: sidecarAuth },
    });
    sidecars.push(sidecar);
    const app = await RawClient.connect(sidecar.port);
    expect(await ask(app, 'set k 0 0 5\r\nhello\r\n', '\r\n')).toBe('STORED\r\n');
    expect(await ask(app, 'get k\r\n', 'END\r\n')).toBe('VALUE k 0 5\r\nhello\r\nEND\r\n');
    expect(await ask(app, 'mg k v\r\n', '\r\nhello\r\n')).toBe('VA 5\r\nhello\r\n');

    // Rotation: the server accepts both, the sidecar switches, the server drops the old one.
    writeFileSync(serverAuth, 'alice:secret\ncarol:new-one\n');
    await eventually(async () => (await accepts('carol new-one')) && (await authStats('carol new-one')).cmds > 0,
      'server accepts the new credential');
    writeFileSync(sidecarAuth, 'carol new-one\n');
    writeFileSync(serverAuth, 'carol:new-one\n');
    const start = await authStats('carol new-one');
    // New upstream connections (after the server's idle timeout closed the old one) authenticate as carol:
    // auth_cmds grows and auth_errors does not.
    await eventually(async () => {
      const reply = await ask(app, 'get k\r\n', 'END\r\n');
      const now = await authStats('carol new-one');
      return reply === 'VALUE k 0 5\r\nhello\r\nEND\r\n' && now.cmds > start.cmds && now.errors === start.errors;
      // Tries a second and a half apart: the server's idle timeout (1 s) closes the quiet upstream connection.
    }, 'a new upstream connection authenticated with the rotated credential', 12, 1500);
    app.close();
  }, 60_000);

  test('wrong credentials fail the upstream, not the sidecar', async () => {
    const c = certs!;
    const wrong = join(dir, 'wrong-auth');
    writeFileSync(wrong, 'mallory guess\n');
    const before = await authStats('carol new-one');
    const sidecar = await fileSidecar(ring!, {
      upstreamSecurity: { tlsCa: c.ca, tlsCert: c.clientCert, tlsKey: c.clientKey, authFile: wrong },
    });
    sidecars.push(sidecar);
    const app = await RawClient.connect(sidecar.port);
    const reply = await ask(app, 'get k\r\n', '\r\n');
    expect(reply).not.toContain('hello');
    const after = await authStats('carol new-one');
    expect(after.errors).toBeGreaterThan(before.errors);
    expect(await ask(app, 'version\r\n', '\r\n')).toMatch(/^VERSION /);
    app.close();
  }, 60_000);

  test('without a client certificate the server refuses the sidecar\'s connections', async () => {
    const c = certs!;
    const before = await authStats('carol new-one');
    const sidecar = await fileSidecar(ring!, { upstreamSecurity: { tlsCa: c.ca, authFile: sidecarAuth } });
    sidecars.push(sidecar);
    const app = await RawClient.connect(sidecar.port);
    expect(await ask(app, 'get k\r\n', '\r\n')).not.toContain('hello');
    app.close();
    await eventually(async () => (await authStats('carol new-one')).handshakeErrors > before.handshakeErrors,
      'the refused handshake counted by the server', 100, 50);
  }, 60_000);
});
