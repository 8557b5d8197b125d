/**
 * --listen-tls-cert/--listen-tls-key/--listen-tls-ca: TLS on the sidecar's own listener, with cachalot-server's
 * -Z code (net/tls.ts): TLS clients are served (with --listen-auth-file, authenticating inside TLS), a plaintext
 * client is dropped without disturbing others, mutual TLS refuses a client without a certificate from the CA,
 * replaced files reach new connections while old ones keep working, and files that cannot be used stop the
 * sidecar with exit code 64 (a flag without its partner: 2).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Sidecar } from '../../../server/src/sidecar/sidecar.js';
import { RawClient, RingFile, ask, eventually, fileSidecar, ringJson, startUpstream, stopAll } from './helpers.js';
import { REPO_ROOT, type RunningServer } from '../../support/servers.js';
import { makeCerts, type TestCerts } from '../../support/certs.js';
import { connectTls, servedName } from '../../support/tlsclient.js';
import { requireOpenssl } from '../../support/prereq.js';
import type { ServerTlsFiles } from '../../../server/src/net/tls.js';

const SIDECAR_MAIN = join(REPO_ROOT, 'dist', 'server', 'src', 'sidecar', 'main.js');

let certs: TestCerts | undefined;
let dir = '';
let ring: RingFile | undefined;
let upstream: RunningServer | undefined;
const sidecars: Sidecar[] = [];

function files(cert: string, key: string, ca = ''): ServerTlsFiles {
  return { sslChainCert: cert, sslKey: key, sslCaCert: ca, sslVerifyMode: ca === '' ? 0 : 2, sslMinVersion: 'tlsv1.2', sslHandshakeTimeout: 10 };
}

async function tlsSidecar(tls: ServerTlsFiles, listenAuthFile?: string): Promise<Sidecar> {
  const s = await fileSidecar(ring!, { listenTls: tls, ...(listenAuthFile !== undefined ? { listenAuthFile } : {}) });
  sidecars.push(s);
  return s;
}

requireOpenssl().describe('TLS on the sidecar\'s listener', () => {
  beforeAll(async () => {
    certs = makeCerts();
    dir = mkdtempSync(join(tmpdir(), 'cachalot-listen-tls-'));
    upstream = await startUpstream();
    ring = new RingFile();
    ring.write(ringJson(1, [{ port: upstream.port }]));
  }, 60_000);

  afterAll(async () => {
    for (const s of sidecars) await s.stop();
    await stopAll([upstream]);
    ring?.remove();
    certs?.remove();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  test('a TLS client is served and authenticates inside TLS; a plaintext client is dropped, costing nobody else', async () => {
    const c = certs!;
    const auth = join(dir, 'auth');
    writeFileSync(auth, 'alice:secret\n');
    const sidecar = await tlsSidecar(files(c.serverCert, c.serverKey), auth);
    const { client, socket } = await connectTls(sidecar.port, { ca: c.ca });
    try {
      expect(servedName(socket)).toBe('cachalot-a');
      expect(await ask(client, 'get k\r\n', '\r\n')).toBe('CLIENT_ERROR unauthenticated\r\n');
      expect(await ask(client, 'set a 0 0 12\r\nalice secret\r\n', '\r\n')).toBe('STORED\r\n');
      const plain = await RawClient.connect(sidecar.port);
      await plain.send('version\r\n');
      const r = await plain.read(() => false, 2_000, 15_000);
      expect(r.end).toBe('eof');
      expect(r.data.toString('latin1')).not.toContain('VERSION');
      plain.close();
      expect(await ask(client, 'set k 0 0 2\r\nhi\r\nget k\r\n', 'END\r\n')).toBe('STORED\r\nVALUE k 0 2\r\nhi\r\nEND\r\n');
      await eventually(async () => /STAT ssl_handshake_errors 1\r\n/.test(await ask(client, 'stats\r\n', 'END\r\n')), 'the handshake error counted', 100, 50);
    } finally {
      client.close();
    }
  }, 60_000);

  test('with --listen-tls-ca: a client without a certificate, or with one from another CA, is refused', async () => {
    const c = certs!;
    const sidecar = await tlsSidecar(files(c.serverCert, c.serverKey, c.ca));
    const refused = async (cert?: string, key?: string): Promise<boolean> => {
      try {
        const { client } = await connectTls(sidecar.port, { ca: c.ca, ...(cert !== undefined ? { cert, key } : {}) });
        // TLS 1.3 reports the refusal after the handshake, on the first read.
        await client.send('version\r\n');
        const r = await client.read((d) => d.includes(10), 5_000, 5_000);
        client.close();
        return !r.data.toString('latin1').startsWith('VERSION ');
      } catch {
        return true;
      }
    };
    expect(await refused()).toBe(true);
    expect(await refused(c.strangerCert, c.strangerKey)).toBe(true);
    expect(await refused(c.clientCert, c.clientKey)).toBe(false);
  }, 60_000);

  test('replaced files reach new connections; a connection already open keeps working', async () => {
    const c = certs!;
    const cert = join(dir, 'tls.crt');
    const key = join(dir, 'tls.key');
    copyFileSync(c.serverCert, cert);
    copyFileSync(c.serverKey, key);
    const sidecar = await tlsSidecar(files(cert, key));
    const old = await connectTls(sidecar.port, { ca: c.ca });
    try {
      expect(servedName(old.socket)).toBe('cachalot-a');
      copyFileSync(c.server2Cert, cert);
      copyFileSync(c.server2Key, key);
      await eventually(async () => {
        const { client, socket } = await connectTls(sidecar.port, { ca: c.ca });
        const name = servedName(socket);
        client.close();
        return name === 'cachalot-b';
      }, 'the new certificate served', 200, 50);
      expect(await ask(old.client, 'mn\r\n', '\r\n')).toBe('MN\r\n');
    } finally {
      old.client.close();
    }
  }, 60_000);

  const built = existsSync(SIDECAR_MAIN);
  (built ? test : test.skip)('files that cannot be used exit 64 naming the flag; a flag without its partner exits 2', () => {
    const c = certs!;
    const run = (args: string[]): { status: number | null; stderr: string } => {
      const r = spawnSync(process.execPath, [SIDECAR_MAIN, '--ring-file', ring!.path, '--port', '0', '--metrics-port', '0', ...args], { timeout: 15_000, encoding: 'utf8' });
      return { status: r.status, stderr: r.stderr };
    };
    const mismatch = run(['--listen-tls-cert', c.serverCert, '--listen-tls-key', c.otherKey]);
    expect(mismatch.status).toBe(64);
    expect(mismatch.stderr).toMatch(/--listen-tls-key=.*: Error loading the key: .*key values mismatch/);
    const missing = run(['--listen-tls-cert', join(dir, 'nope.crt'), '--listen-tls-key', c.serverKey]);
    expect(missing.status).toBe(64);
    expect(missing.stderr).toMatch(/--listen-tls-cert=.*nope\.crt: Error loading the certificate chain/);
    const noKey = run(['--listen-tls-cert', c.serverCert]);
    expect(noKey.status).toBe(2);
    expect(noKey.stderr).toContain('--listen-tls-cert: needs --listen-tls-key');
  }, 60_000);
});
