/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * A cluster with authentication and TLS, end to end (docs/security.md, docs/operator.md "Security"): the
 * operator mounts the auth Secret and a TLS Secret (certificates made here with the openssl CLI: a CA and two
 * server certificates for the names the operator's Certificate would carry), the kubelet double writes them as
 * secret volumes and swaps them when the Secrets change (secret-volumes.ts), and an application talks plaintext
 * to a real cachalot-sidecar process that speaks TLS and ASCII auth to the servers with the CA and a
 * credentials file of its own.
 *
 * Under continuous traffic (sets and gets through the sidecar, every reply checked), a credential rotation as
 * docs/operator.md describes it and a certificate renewal under the same CA, with no failed request, no server
 * restarted, and the servers serving the new certificate to new connections. Fresh client connections after
 * each step land on fresh upstream connections (the sidecar picks a client's upstream connection by its
 * connection number, --server-connections of them per server), so every step is also crossed by new TLS
 * handshakes and authentications, not only by connections opened before it.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storageCommand } from '../support/mcclient.js';
import { requireOpenssl } from '../support/prereq.js';
import { handshakeTls } from '../support/tlsclient.js';
import { API_VERSION, KIND } from '../../operator/src/api/types.js';
import { serverDnsNames } from '../../operator/src/builders/certificate.js';
import { Mc, RingRouter, sequentialSteps, startCluster, waitUntil, type E2ECluster } from './harness.js';
import { writeAtomically, type Payload } from './secret-volumes.js';
import { SidecarProcess } from './sidecar-process.js';

const NS = 'default';
const NAME = 'sec';
const REPLICAS = 3;
const CC = `/apis/cachalot.io/v1alpha1/namespaces/${NS}/cacheclusters`;
const SECRETS = `/api/v1/namespaces/${NS}/secrets`;
const OLD = { user: 'app', password: 'one-Secret' };
const NEW = { user: 'app', password: 'two-Secret' };
/** More than the client connections the test opens, so that each fresh one gets fresh upstream connections. */
const SERVER_CONNECTIONS = 64;

interface Pem { crt: string; key: string; fingerprint: string }
interface Certs { dir: string; ca: string; a: Pem; b: Pem }

/** A CA and two server certificates (different keys and serials) for `dnsNames`, with the openssl CLI. */
function makeCerts(dnsNames: string[]): Certs {
  const dir = mkdtempSync(join(tmpdir(), 'cachalot-e2e-certs-'));
  const openssl = (args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=cachalot-e2e-ca']);
  writeFileSync(join(dir, 'server.ext'), `subjectAltName=${dnsNames.map((n) => `DNS:${n}`).join(',')}\nextendedKeyUsage=serverAuth\n`);
  const issue = (name: string): Pem => {
    openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', 'server.ext']);
    const crt = readFileSync(join(dir, `${name}.crt`), 'utf8');
    return { crt, key: readFileSync(join(dir, `${name}.key`), 'utf8'), fingerprint: new X509Certificate(crt).fingerprint256 };
  };
  return { dir, ca: readFileSync(join(dir, 'ca.crt'), 'utf8'), a: issue('server-a'), b: issue('server-b') };
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

async function api(c: E2ECluster, method: string, path: string, body: unknown, contentType = 'application/json'): Promise<any> {
  const r = await fetch(`${c.api.url}${path}`, { method, headers: { 'content-type': contentType }, body: JSON.stringify(body) });
  const text = await r.text();
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

const setAuthSecret = (c: E2ECluster, lines: string): Promise<any> =>
  api(c, 'PATCH', `${SECRETS}/${NAME}-auth`, { data: { auth: b64(lines) } }, 'application/merge-patch+json');

/** Continuous traffic through the sidecar: loops of set + get on their own connections, every reply checked. */
class Traffic {
  ok = 0;
  readonly failures: string[] = [];
  private stopped = false;
  private readonly loops: Promise<void>[] = [];

  constructor(private readonly port: number) {}

  start(loops: number): void {
    for (let l = 0; l < loops; l++) this.loops.push(this.loop(l));
  }

  private async loop(l: number): Promise<void> {
    let mc: Mc | undefined;
    // Bounded: the scenario stops it long before (about 200 requests a second per loop).
    for (let i = 0; i < 1_000_000 && !this.stopped; i++) {
      try {
        mc ??= await Mc.connect('127.0.0.1', this.port);
        await this.roundTrip(mc, `loop${l}:${i % 300}`, `v${l}-${i}`);
      } catch (e) {
        this.failures.push(`loop ${l}, request ${i}: ${(e as Error).message}`);
        mc?.close();
        mc = undefined;
      }
    }
    mc?.close();
  }

  /** set then get of one key; throws unless STORED and the value just set comes back. */
  async roundTrip(mc: Mc, key: string, value: string): Promise<void> {
    const [set, get] = await mc.pipeline(Buffer.concat([storageCommand('set', key, Buffer.from(value)), Buffer.from(`get ${key}\r\n`)]), ['line', 'values'], 5_000);
    if (set!.line !== 'STORED') throw new Error(`set ${key}: ${set!.line}`);
    const got = get!.values[0]?.data.toString();
    if (get!.line !== 'END' || got !== value) throw new Error(`get ${key}: ${got === undefined ? get!.line : `'${got}'`}, expected '${value}'`);
    this.ok++;
  }

  /** A new client connection (so new upstream connections to every member) doing `n` round trips. */
  async fresh(tag: string, n = 60): Promise<void> {
    const mc = await Mc.connect('127.0.0.1', this.port);
    try {
      for (let i = 0; i < n; i++) {
        try {
          await this.roundTrip(mc, `fresh:${tag}:${i}`, `${tag}-${i}`);
        } catch (e) {
          this.failures.push(`fresh connection ${tag}, request ${i}: ${(e as Error).message}`);
          return;
        }
      }
    } finally {
      mc.close();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }
}

const step = sequentialSteps();
let c: E2ECluster;
let certs: Certs;
let sidecar: SidecarProcess;
let traffic: Traffic;
let ring: RingRouter;
let clientDir = '';
/** Pod uid and restartCount per pod at the start. */
let podsAtStart = new Map<string, string>();
/** Failed authentications the test itself caused per member (probing that the old password is gone). */
const causedAuthErrors = new Map<string, number>();

const gate = requireOpenssl();

/** A TLS connection to a member's own address, verified against the CA for its DNS name, authenticated. */
async function member(m: { name: string; host: string; port: number }, cred: { user: string; password: string }): Promise<{ mc: Mc; cert: string; auth: string }> {
  const ep = c.network.resolve(m.host, m.port);
  if (!ep) throw new Error(`${m.name} is not running`);
  const socket = await handshakeTls({ host: ep.host, port: ep.port, ca: certs.ca, servername: m.host }, m.name);
  const mc = Mc.over(socket);
  const block = `${cred.user} ${cred.password}`;
  const [auth] = await mc.pipeline(Buffer.from(`set auth 0 0 ${block.length}\r\n${block}\r\n`), ['line'], 5_000);
  return { mc, cert: socket.getPeerCertificate().fingerprint256, auth: auth!.line };
}

async function statsOf(m: { name: string; host: string; port: number }): Promise<ReadonlyMap<string, string>> {
  const { mc, auth } = await member(m, NEW);
  try {
    if (auth !== 'STORED') throw new Error(`${m.name}: ${auth}`);
    const [r] = await mc.pipeline(Buffer.from('stats\r\n'), ['stats']);
    return r!.stats;
  } finally {
    mc.close();
  }
}

function pods(): Map<string, string> {
  const out = new Map<string, string>();
  for (const k of c.kubelets.values()) for (const p of k.runningPods()) if (p.name.startsWith(`${NAME}-`)) out.set(p.name, `${p.uid} restarts=${p.restartCount}`);
  return out;
}

function sidecarFiles(credential: { user: string; password: string }): Payload {
  return new Map([
    ['ca.crt', { bytes: Buffer.from(certs.ca), mode: 0o440 }],
    ['credentials', { bytes: Buffer.from(`${credential.user} ${credential.password}`), mode: 0o440 }],
  ]);
}

gate.describe('a cluster with auth and TLS, through the sidecar', () => {
  beforeAll(async () => {
    certs = makeCerts(serverDnsNames({ apiVersion: API_VERSION, kind: KIND, metadata: { name: NAME, namespace: NS }, spec: {} }));
    c = await startCluster();
  }, 60_000);

  afterAll(async () => {
    await traffic?.stop();
    await sidecar?.stop();
    try {
      c?.checkExits();
    } finally {
      await c?.stop();
      rmSync(certs.dir, { recursive: true, force: true });
      if (clientDir) rmSync(clientDir, { recursive: true, force: true });
    }
  }, 60_000);

  step('the operator mounts the Secrets; the servers serve TLS with auth; the sidecar reaches them', async () => {
    await api(c, 'POST', SECRETS, { apiVersion: 'v1', kind: 'Secret', metadata: { name: `${NAME}-auth`, namespace: NS }, data: { auth: b64(`${OLD.user}:${OLD.password}`) } });
    await api(c, 'POST', SECRETS, {
      apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: `${NAME}-tls`, namespace: NS },
      data: { 'tls.crt': b64(certs.a.crt), 'tls.key': b64(certs.a.key), 'ca.crt': b64(certs.ca) },
    });
    await api(c, 'POST', CC, {
      apiVersion: API_VERSION, kind: KIND, metadata: { name: NAME, namespace: NS },
      spec: { replicas: REPLICAS, threads: 1, memory: '16Mi', flash: { size: '64Mi' }, auth: { secretName: `${NAME}-auth` }, tls: { secretName: `${NAME}-tls` } },
    });
    ring = await waitUntil(`${REPLICAS} members ready on the ring`, async () => {
      const cm = await fetch(`${c.api.url}/api/v1/namespaces/${NS}/configmaps/${NAME}-ring`);
      if (cm.status !== 200) return undefined;
      const router = new RingRouter(((await cm.json()) as any).data['ring.json']);
      const cc = (await (await fetch(`${c.api.url}${CC}/${NAME}`)).json()) as any;
      return router.active.length === REPLICAS && cc.status?.readyReplicas === REPLICAS && router.active.every((m) => c.network.resolve(m.host, m.port)) ? router : undefined;
    }, 60_000, 100);
    podsAtStart = pods();
    expect(podsAtStart.size).toBe(REPLICAS);

    for (const m of ring.active) {
      // Plaintext is not served: the TLS port drops a client that does not handshake.
      const ep = c.network.resolve(m.host, m.port)!;
      const plain = await Mc.connect(ep.host, ep.port);
      await expect(plain.pipeline(Buffer.from('version\r\n'), ['line'], 5_000)).rejects.toThrow();
      plain.close();
      // TLS with the CA and the member's DNS name; nothing before authenticating; the Secret's password works.
      const { mc, cert, auth } = await member(m, { user: 'app', password: 'guess' });
      expect(cert).toBe(certs.a.fingerprint);
      expect(auth).toBe('CLIENT_ERROR authentication failure');
      causedAuthErrors.set(m.name, 1);
      const [before] = await mc.pipeline(Buffer.from('get k\r\n'), ['line']);
      expect(before!.line).toBe('CLIENT_ERROR unauthenticated');
      mc.close();
      const ok = await member(m, OLD);
      expect(ok.auth).toBe('STORED');
      ok.mc.close();
    }

    // The application's side: a sidecar with the CA and a credentials file, mounted as a kubelet would.
    clientDir = join(mkdtempSync(join(tmpdir(), 'cachalot-e2e-client-')), 'cache');
    writeAtomically(clientDir, sidecarFiles(OLD));
    sidecar = new SidecarProcess(c, NS, NAME, 'sidecar', {
      logLevel: 'info',
      extraArgs: ['--tls-ca', join(clientDir, 'ca.crt'), '--auth-file', join(clientDir, 'credentials'), '--server-connections', String(SERVER_CONNECTIONS)],
    });
    await sidecar.start();
    await waitUntil('the sidecar on the ring', async () => (await sidecar.ringVersion()) === ring.spec.version, 20_000, 100);
    traffic = new Traffic(sidecar.port);
    await traffic.fresh('first');
    expect(traffic.failures).toEqual([]);
    traffic.start(2);
    await waitUntil('traffic flowing', () => traffic.ok >= 300, 30_000, 50);
  }, 120_000);

  step('a credential rotation: new password added, the sidecar switched, the old one removed; no request fails', async () => {
    // (1) The new line beside the old one.
    await setAuthSecret(c, `${OLD.user}:${OLD.password}\n${NEW.user}:${NEW.password}\n`);
    // (2) Every member has loaded it.
    for (const m of ring.active) {
      await waitUntil(`${m.name} accepts the new password`, async () => {
        const { mc, auth } = await member(m, NEW);
        mc.close();
        if (auth !== 'STORED') causedAuthErrors.set(m.name, (causedAuthErrors.get(m.name) ?? 0) + 1);
        return auth === 'STORED';
      }, 30_000, 100);
    }
    await traffic.fresh('both-passwords');
    // (3) The client moves to the new password: its credentials file is swapped as its Secret volume would be.
    writeAtomically(clientDir, sidecarFiles(NEW));
    await waitUntil('the sidecar reloaded its credentials', () => sidecar.logged('upstream TLS/auth files reloaded'), 20_000, 50);
    await traffic.fresh('new-password');
    // (4) The old line goes; every member refuses it.
    await setAuthSecret(c, `${NEW.user}:${NEW.password}\n`);
    for (const m of ring.active) {
      await waitUntil(`${m.name} refuses the old password`, async () => {
        const { mc, auth } = await member(m, OLD);
        mc.close();
        if (auth !== 'STORED') causedAuthErrors.set(m.name, (causedAuthErrors.get(m.name) ?? 0) + 1);
        return auth === 'CLIENT_ERROR authentication failure';
      }, 30_000, 100);
    }
    // New upstream connections authenticate with the only password left.
    await traffic.fresh('old-password-gone');
    expect(traffic.failures).toEqual([]);
  }, 120_000);

  step('a certificate renewal under the same CA: new connections get the new certificate; no request fails', async () => {
    await api(c, 'PATCH', `${SECRETS}/${NAME}-tls`, { data: { 'tls.crt': b64(certs.b.crt), 'tls.key': b64(certs.b.key) } }, 'application/merge-patch+json');
    for (const m of ring.active) {
      await waitUntil(`${m.name} serves the renewed certificate`, async () => {
        const { mc, cert } = await member(m, NEW);
        mc.close();
        return cert === certs.b.fingerprint;
      }, 30_000, 100);
    }
    // New upstream handshakes verify the new certificate; connections opened before keep their sessions.
    await traffic.fresh('renewed');
    const okBefore = traffic.ok;
    await waitUntil('traffic still flowing on the connections opened before', () => traffic.ok >= okBefore + 200, 30_000, 50);
    expect(traffic.failures).toEqual([]);
  }, 120_000);

  step('zero failed requests, no server restarted, no unexpected authentication or handshake failure', async () => {
    await traffic.stop();
    expect(traffic.failures).toEqual([]);
    expect(traffic.ok).toBeGreaterThan(1000);
    expect(pods()).toEqual(podsAtStart);
    for (const m of ring.active) {
      const stats = await statsOf(m);
      // Only the attempts this test made with a wrong password on purpose.
      expect({ member: m.name, auth_errors: Number(stats.get('auth_errors')) }).toEqual({ member: m.name, auth_errors: causedAuthErrors.get(m.name) });
      expect({ member: m.name, ssl_handshake_errors: Number(stats.get('ssl_handshake_errors')) }).toEqual({ member: m.name, ssl_handshake_errors: 1 });
    }
    if (process.env.CACHALOT_E2E_VERBOSE) console.log(`security e2e: ${traffic.ok} round trips, 0 failed; pods ${[...podsAtStart].join(', ')}`);
  }, 60_000);
});
