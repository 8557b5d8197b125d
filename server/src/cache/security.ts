/**
 * A worker's security pieces, built from the configuration: the ASCII-auth gate (-Y) and the TLS side of
 * the cache port (-Z), from the files' bytes the main thread read and checked (security-config.ts
 * readSecurityBytes, and the latest reload after it), so a worker never reads a pair of files mid-swap.
 */
import type { TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import { AsciiAuth, AuthTable } from './engine/auth.js';
import { loadServerMaterial, ServerTls } from '../net/tls.js';
import { C, type CounterReader, type Counters } from './metrics/counters.js';
import type { SecurityBytes, SecurityConfig } from './security-config.js';
import type { StatLines } from './metrics/stats-source.js';
import type { CertBytes } from '../net/certfiles.js';

export interface WorkerSecurity {
  auth: AsciiAuth | undefined;
  tls: ServerTls | undefined;
  /** Takes a reloaded auth file's bytes (from the main thread); ignored when they do not parse. */
  reloadAuth(bytes: Uint8Array): void;
  /** refresh_certs: undefined on success, else memcached's error text. */
  refreshCerts(): string | undefined;
  /**
   * Takes certificate bytes the main thread loaded after the files changed (-o ssl_refresh_on_change), or
   * that refresh_certs loaded on another thread (`generation`).
   */
  installCerts(bytes: CertBytes, generation?: number): void;
  /** Serves `socket` now (plaintext) or after its handshake (TLS); `release` if it never gets served. */
  accept(socket: Socket, serve: (s: Socket | TLSSocket) => void, release: () => void): void;
  /** The TLS lines of `stats`, in memcached's place (after log_watchers). */
  statLines(): StatLines;
}

export interface SecurityLog {
  error(obj: object, msg: string): void;
}

export function openSecurity(sec: SecurityConfig, bytes: SecurityBytes, tlsCell: SharedArrayBuffer | undefined, counters: Counters,
  reader: CounterReader, now: () => number, log: SecurityLog,
  refreshed?: (bytes: CertBytes, generation: number) => void): WorkerSecurity {
  let auth: AsciiAuth | undefined;
  if (sec.authFile !== '') {
    const table = bytes.auth === undefined ? `the main thread sent no auth file` : AuthTable.parse(Buffer.from(bytes.auth));
    if (typeof table === 'string') throw new Error(`-Y ${sec.authFile}: ${table}`);
    auth = new AsciiAuth(table, counters);
  }
  let tls: ServerTls | undefined;
  if (sec.tls && tlsCell !== undefined) {
    const certs = bytes.certs;
    const byPath = new Map<string, Buffer>();
    if (certs !== undefined) {
      byPath.set(sec.sslChainCert, Buffer.from(certs.cert)).set(sec.sslKey, Buffer.from(certs.key));
      if (certs.ca !== undefined) byPath.set(sec.sslCaCert, Buffer.from(certs.ca));
    }
    const material = loadServerMaterial(sec, (path) => {
      const b = byPath.get(path);
      if (b === undefined) throw new Error(`${path}: the main thread sent no bytes for it`);
      return b;
    });
    if (typeof material === 'string') throw new Error(material);
    tls = new ServerTls(sec, material, tlsCell, {
      now,
      handshakeFailed: () => {
        counters.row[C.ssl_handshake_errors]++;
      },
      reloadFailed: (message) => log.error({}, `refresh_certs on another thread: ${message}; this thread keeps the files it had`),
      refreshed,
    }, bytes.certsGeneration ?? 0);
  }
  const serverTls = tls;
  return {
    auth,
    tls,
    reloadAuth(bytes) {
      const table = AuthTable.parse(Buffer.from(bytes));
      if (auth !== undefined && typeof table !== 'string') auth.table = table;
    },
    refreshCerts() {
      return serverTls === undefined ? 'Error TLS not enabled' : serverTls.refresh();
    },
    installCerts(bytes, generation) {
      const problem = serverTls?.install(bytes, generation);
      if (problem !== undefined) log.error({}, `changed TLS files: ${problem}; this thread keeps the certificate it had`);
    },
    accept(socket, serve, release) {
      if (serverTls === undefined) serve(socket);
      else serverTls.accept(socket, serve, release);
    },
    statLines() {
      if (serverTls === undefined) return [];
      return [
        ['ssl_handshake_errors', reader.get('ssl_handshake_errors')],
        ['time_since_server_cert_refresh', serverTls.secondsSinceRefresh()],
      ];
    },
  };
}
