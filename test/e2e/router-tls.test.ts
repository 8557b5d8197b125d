/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * The client Service with spec.auth and spec.tls (clientAuth), end to end (docs/operator.md "The router"):
 * the router pods, real cachalot-sidecar processes (router-pods.ts), serve the Service over TLS with the
 * servers' own certificate and ask clients for what the servers ask: a certificate signed by the Secret's CA,
 * then the password. Certificates are made here with the openssl CLI for the names the operator's Certificate
 * would carry, usable for server and client authentication (with clientAuth the router presents the servers'
 * certificate to them).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import type tls from 'node:tls';
import { requireOpenssl } from '../support/prereq.js';
import { handshakeTls } from '../support/tlsclient.js';
import { API_VERSION, KIND } from '../../operator/src/api/types.js';
import { serverDnsNames } from '../../operator/src/builders/certificate.js';
import { Mc, sequentialSteps, startCluster, waitUntil, type E2ECluster } from './harness.js';
import { createCluster, settledRing } from './ring-steps.js';

const NS = 'default';
const NAME = 'rtls';
const SECRETS = `/api/v1/namespaces/${NS}/secrets`;
const CRED = 'app s3cret-Tls';
const SERVICE_NAME = `${NAME}.${NS}.svc.cluster.local`;

interface Certs { dir: string; ca: string; server: { crt: string; key: string }; client: { crt: string; key: string } }

/** A CA, a certificate for the servers' names (server and client use), and an application's client certificate. */
function makeCerts(dnsNames: string[]): Certs {
  const dir = mkdtempSync(join(tmpdir(), 'cachalot-e2e-rtls-'));
  const openssl = (args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=cachalot-e2e-rtls-ca']);
  writeFileSync(join(dir, 'server.ext'), `subjectAltName=${dnsNames.map((n) => `DNS:${n}`).join(',')}\nextendedKeyUsage=serverAuth,clientAuth\n`);
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  const issue = (name: string, ext: string): { crt: string; key: string } => {
    openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', ext]);
    return { crt: readFileSync(join(dir, `${name}.crt`), 'utf8'), key: readFileSync(join(dir, `${name}.key`), 'utf8') };
  };
  return { dir, ca: readFileSync(join(dir, 'ca.crt'), 'utf8'), server: issue('server', 'server.ext'), client: issue('client', 'client.ext') };
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

async function api(c: E2ECluster, method: string, path: string, body: unknown): Promise<any> {
  const r = await fetch(`${c.api.url}${path}`, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await r.text();
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

const step = sequentialSteps();
let c: E2ECluster;
let certs: Certs;
let service = { host: '', port: 0 };

/** A TLS connection to the client Service, verifying the router's certificate for the Service's name. */
function viaService(withCert: boolean): Promise<tls.TLSSocket> {
  return handshakeTls({
    host: service.host, port: service.port, ca: certs.ca, servername: SERVICE_NAME,
    ...(withCert ? { cert: certs.client.crt, key: certs.client.key } : {}),
  }, 'the Service');
}

/** The first reply line to `request`, or why there was none (a refused client certificate shows here with TLS 1.3). */
async function firstLine(socket: net.Socket, request: string): Promise<string> {
  const mc = Mc.over(socket);
  try {
    const [r] = await mc.pipeline(Buffer.from(request), ['line'], 5_000);
    return r!.line;
  } catch (e) {
    return `failed: ${(e as Error).message}`;
  } finally {
    mc.close();
  }
}

requireOpenssl().describe('the client Service with spec.auth and spec.tls: TLS and mutual TLS to the router', () => {
  beforeAll(async () => {
    certs = makeCerts(serverDnsNames({ apiVersion: API_VERSION, kind: KIND, metadata: { name: NAME, namespace: NS }, spec: {} }));
    c = await startCluster(undefined, { routers: true });
  }, 60_000);

  afterAll(async () => {
    try {
      c?.checkExits();
    } finally {
      await c?.stop();
      if (certs) rmSync(certs.dir, { recursive: true, force: true });
    }
  }, 60_000);

  step('the router pods serve the Service over TLS with the servers\' certificate', async () => {
    const [user, password] = CRED.split(' ');
    await api(c, 'POST', SECRETS, { apiVersion: 'v1', kind: 'Secret', metadata: { name: `${NAME}-auth`, namespace: NS }, data: { auth: b64(`${user}:${password}`), router: b64(CRED) } });
    await api(c, 'POST', SECRETS, {
      apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: `${NAME}-tls`, namespace: NS },
      data: { 'tls.crt': b64(certs.server.crt), 'tls.key': b64(certs.server.key), 'ca.crt': b64(certs.ca) },
    });
    await createCluster(c, NS, NAME, {
      replicas: 2, threads: 1, memory: '16Mi', flash: { size: '64Mi' },
      auth: { secretName: `${NAME}-auth` }, tls: { secretName: `${NAME}-tls`, clientAuth: true },
    });
    await settledRing(c, NS, NAME, 2, []);
    service = await waitUntil(`Service ${NAME} on the router pods`, async () => {
      const svc = await c.core.readNamespacedService({ name: NAME, namespace: NS });
      if (svc.spec?.selector?.['app.kubernetes.io/name'] !== 'cachalot-router') return undefined;
      if (c.services!.endpoints(NS, NAME).length !== 2) return undefined;
      return c.services!.resolve(SERVICE_NAME, 11211);
    }, 60_000, 100);
  }, 180_000);

  step('a plaintext client and a TLS client without a certificate get nothing', async () => {
    const plain = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host: service.host, port: service.port }, () => resolve(s));
      s.once('error', reject);
    });
    expect(await firstLine(plain, 'version\r\n')).toMatch(/^failed: /);
    let noCert: string;
    try {
      noCert = await firstLine(await viaService(false), 'version\r\n');
    } catch (e) {
      noCert = `failed: ${(e as Error).message}`;
    }
    expect(noCert).toMatch(/^failed: /);
  }, 60_000);

  step('with a client certificate from the CA: memcached\'s auth first, then the servers\' data', async () => {
    expect(await firstLine(await viaService(true), 'get k\r\n')).toBe('CLIENT_ERROR unauthenticated');
    const socket = await viaService(true);
    const mc = Mc.over(socket);
    try {
      const [auth] = await mc.pipeline(Buffer.from(`set a 0 0 ${CRED.length}\r\n${CRED}\r\n`), ['line'], 5_000);
      expect(auth!.line).toBe('STORED');
      const keys = Array.from({ length: 40 }, (_, i) => `rtls-${i}`);
      // The router reached the servers over mutual TLS with their certificate, and authenticated with `router`.
      expect(await mc.setMany(keys.map((k) => [k, Buffer.from(`v-${k}`)]))).toEqual([]);
      const got = await mc.getMany(keys);
      expect(keys.filter((k) => got.get(k)?.toString() !== `v-${k}`)).toEqual([]);
    } finally {
      mc.close();
    }
  }, 60_000);
});
