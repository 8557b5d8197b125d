// Test certificates made with the `openssl` CLI into a fresh temporary directory: a CA, server certificates
// for 127.0.0.1 (two, with different subjects, for refresh_certs), a client certificate signed by the CA, a
// client certificate from another CA, and a key that matches none of them. Files are world-readable so that
// a memcached dropping privileges (-u) can read them too.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCerts {
  readonly dir: string;
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  /** A second server certificate (subject CN=cachalot-b) and its key. */
  readonly server2Cert: string;
  readonly server2Key: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** A client certificate signed by a CA the server does not trust. */
  readonly strangerCert: string;
  readonly strangerKey: string;
  /** A key no certificate here belongs to. */
  readonly otherKey: string;
  remove(): void;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function signedBy(dir: string, caName: string, name: string, subject: string, ext: string): void {
  openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject]);
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${caName}.crt`, '-CAkey', `${caName}.key`,
    '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`]);
}

export function makeCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'cachalot-certs-'));
  for (const ca of ['ca', 'stranger-ca']) {
    openssl(dir, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${ca}.key`, '-out', `${ca}.crt`,
      '-days', '2', '-subj', `/CN=${ca}`]);
  }
  const serverExt = 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n';
  signedBy(dir, 'ca', 'server', '/CN=cachalot-a', serverExt);
  signedBy(dir, 'ca', 'server2', '/CN=cachalot-b', serverExt);
  signedBy(dir, 'ca', 'client', '/CN=client', 'extendedKeyUsage=clientAuth\n');
  signedBy(dir, 'stranger-ca', 'stranger', '/CN=stranger', 'extendedKeyUsage=clientAuth\n');
  openssl(dir, ['genrsa', '-out', 'other.key', '2048']);
  chmodSync(dir, 0o755);
  for (const f of readdirSync(dir)) chmodSync(join(dir, f), 0o644);
  const p = (f: string): string => join(dir, f);
  return {
    dir, ca: p('ca.crt'), serverCert: p('server.crt'), serverKey: p('server.key'), server2Cert: p('server2.crt'),
    server2Key: p('server2.key'), clientCert: p('client.crt'), clientKey: p('client.key'),
    strangerCert: p('stranger.crt'), strangerKey: p('stranger.key'), otherKey: p('other.key'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
