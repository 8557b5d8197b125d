/**
 * Server-side TLS for the cache port (memcached's -Z): certificate files, the per-thread TLS context, the
 * handshake of each accepted socket, and `refresh_certs`.
 *
 * Every worker owns a `tls.Server` that never listens: the worker's plain listener accepts the TCP
 * connection (so connections stay on the thread that accepted them) and hands the socket to it with
 * `emit('connection')`, the way Node documents for feeding a server sockets it did not accept. Node then
 * runs the handshake, its timeout and the client-certificate check; a socket that fails any of them is
 * destroyed, which costs that connection only. A secure connection then takes the plaintext fast paths:
 * decrypted bytes arrive in the thread's shared read buffer (net/sharedread.ts: the TLS layer's handle takes
 * a user buffer as the TCP one does), and replies are written on the TLS layer's handle (net/directwrite.ts,
 * one write there at a time, the rest queued), skipping the Readable and Writable streams.
 *
 * `refresh_certs` on one thread reloads the files there, bumps a generation number in shared memory and
 * hands the bytes it loaded to the other threads through the main thread (install), so that they serve
 * what the refresh loaded even if the files change again. A thread whose next accept comes before those
 * bytes sees the new number and loads the files itself before that handshake (memcached's threads share
 * one SSL_CTX; ours each hold one). Connections already open keep their session.
 *
 *   TLS cell (Int32Array over a SharedArrayBuffer, Atomics)
 *   +------------+--------------+
 *   | generation | refresh time |   refresh time: the shared clock's seconds at the last load
 *   +------------+--------------+
 */
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { createSecureContext, Server as TlsServer, type SecureContext, type TLSSocket } from 'node:tls';

export const TLS_GENERATION = 0;
export const TLS_REFRESH_TIME = 1;
const TLS_CELL_SLOTS = 2;

/**
 * Seconds a handshake may take before the connection is closed (-o ssl_handshake_timeout; Node's default is
 * 120 s, memcached has none: its half-open connections stay until the client goes). A half-open handshake
 * holds a connection slot (-c) and its TLS state, so a client that starts many and never finishes them gets
 * the slots back soon.
 */
export const DEFAULT_HANDSHAKE_TIMEOUT_S = 10;
export const MAX_HANDSHAKE_TIMEOUT_S = 3600;

/** The -o ssl_* settings this module reads (cache/security-config.ts parses them). */
export interface ServerTlsFiles {
  sslChainCert: string;
  sslKey: string;
  sslCaCert: string;
  /** memcached's 0 none, 1 request, 2 require, 3 once. */
  sslVerifyMode: number;
  /** memcached's name, e.g. tlsv1.2. */
  sslMinVersion: string;
  /** Seconds before an unfinished handshake is abandoned (not in memcached). */
  sslHandshakeTimeout: number;
}

/** memcached's ssl_min_version names and Node's names for the same protocol versions. */
export const TLS_MIN_VERSIONS: Readonly<Record<string, 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3'>> = {
  'tlsv1.0': 'TLSv1', 'tlsv1.1': 'TLSv1.1', 'tlsv1.2': 'TLSv1.2', 'tlsv1.3': 'TLSv1.3',
};

export interface ServerMaterial {
  cert: Buffer;
  key: Buffer;
  ca: Buffer | undefined;
  context: SecureContext;
}

export type ReadFile = (path: string) => Buffer;

/** cachalot-server's flag for each file: memcached's `-o` suboption. */
export const SERVER_TLS_FLAGS = (suboption: 'ssl_chain_cert' | 'ssl_key' | 'ssl_ca_cert'): string => `-o ${suboption}`;

/**
 * Reads and checks the files in memcached's order (chain, key, key against certificate, CA). Returns the
 * material, or the problem in memcached's words with the flag named ("-o ssl_key=...: Error loading the
 * key: <file> : <reason>"); `flagOf` names each file's flag (the sidecar's listener has its own).
 */
export function loadServerMaterial(files: ServerTlsFiles, read: ReadFile = readFileSync,
  flagOf: typeof SERVER_TLS_FLAGS = SERVER_TLS_FLAGS): ServerMaterial | string {
  const problem = (flag: 'ssl_chain_cert' | 'ssl_key' | 'ssl_ca_cert', file: string, what: string, reason: string): string =>
    `${flagOf(flag)}=${file}: Error loading the ${what}: ${file} : ${reason}`;
  let cert: Buffer;
  let key: Buffer;
  let ca: Buffer | undefined;
  try {
    cert = read(files.sslChainCert);
  } catch (err) {
    return problem('ssl_chain_cert', files.sslChainCert, 'certificate chain', (err as Error).message);
  }
  try {
    createSecureContext({ cert });
  } catch (err) {
    return problem('ssl_chain_cert', files.sslChainCert, 'certificate chain', (err as Error).message);
  }
  try {
    key = read(files.sslKey);
  } catch (err) {
    return problem('ssl_key', files.sslKey, 'key', (err as Error).message);
  }
  try {
    createSecureContext({ key });
  } catch (err) {
    return problem('ssl_key', files.sslKey, 'key', (err as Error).message);
  }
  if (files.sslCaCert !== '') {
    try {
      ca = read(files.sslCaCert);
      createSecureContext({ ca });
    } catch (err) {
      return problem('ssl_ca_cert', files.sslCaCert, 'CA certificate', (err as Error).message);
    }
  }
  try {
    // OpenSSL checks the key against the certificate as it loads the key: memcached reports a mismatch as
    // "Error loading the key: <file> : ...key values mismatch".
    createSecureContext({ cert, key });
  } catch (err) {
    return problem('ssl_key', files.sslKey, 'key', (err as Error).message);
  }
  try {
    const context = createSecureContext({ cert, key, ca, minVersion: TLS_MIN_VERSIONS[files.sslMinVersion] ?? 'TLSv1.2' });
    return { cert, key, ca, context };
  } catch (err) {
    return `${flagOf('ssl_key')}=${files.sslKey}: Error validating the certificate: ${(err as Error).message}`;
  }
}

/** The shared generation/refresh-time cell; the main thread allocates it once with -Z. */
export function createTlsCell(refreshTime: number): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(TLS_CELL_SLOTS * 4);
  Atomics.store(new Int32Array(sab), TLS_REFRESH_TIME, refreshTime);
  return sab;
}

/** The count of refresh_certs so far (any thread). */
export function tlsGeneration(cell: SharedArrayBuffer): number {
  return Atomics.load(new Int32Array(cell), TLS_GENERATION);
}

/** Records a reload done outside refresh_certs (the main thread's file watch) for time_since_server_cert_refresh. */
export function markTlsRefresh(cell: SharedArrayBuffer, refreshTime: number): void {
  Atomics.store(new Int32Array(cell), TLS_REFRESH_TIME, refreshTime);
}

export interface ServerTlsHooks {
  /** The shared clock's current second (memcached's current_time). */
  now(): number;
  /** A connection closed before its handshake completed (memcached's ssl_handshake_errors). */
  handshakeFailed(): void;
  /** Another thread's refresh could not be loaded here: the previous files stay in use on this thread. */
  reloadFailed(message: string): void;
  /**
   * refresh_certs loaded these bytes here as `generation`: for the other threads (install), which would
   * otherwise read the files at their next accept, when they may have changed again.
   */
  refreshed?(bytes: { cert: Uint8Array; key: Uint8Array; ca?: Uint8Array }, generation: number): void;
}

/** One worker's TLS side: wraps accepted sockets, reloads on refresh_certs. */
export class ServerTls {
  private readonly server: TlsServer;
  private readonly cell: Int32Array;
  private generation: number;
  /**
   * Sockets in their handshake, by remote address and port: unique among the live connections of one
   * listening port, and the TLS socket reports the same pair, so no Node internals are needed to match them.
   */
  private readonly pending = new Map<string, (secure: TLSSocket) => void>();

  /**
   * `generation`: the cell's refresh_certs generation when `material` was read; a later refresh_certs on
   * another thread (one that ran while this worker was starting) makes the first accept reload the files.
   */
  constructor(private readonly files: ServerTlsFiles, material: ServerMaterial, cell: SharedArrayBuffer,
    private readonly hooks: ServerTlsHooks, generation: number = tlsGeneration(cell)) {
    this.cell = new Int32Array(cell);
    this.generation = generation;
    const mode = files.sslVerifyMode;
    this.server = new TlsServer({
      // tls.Server builds its context from these (a `secureContext` option would be ignored).
      ...contextOptions(files, material),
      // SSL_VERIFY_PEER asks for a certificate; FAIL_IF_NO_PEER_CERT (mode 2) also refuses a client without one.
      requestCert: mode !== 0,
      rejectUnauthorized: mode === 2,
      handshakeTimeout: files.sslHandshakeTimeout * 1000,
    });
    this.server.on('secureConnection', this.onSecure);
    // Handshake failures (garbage, a plaintext client, a refused certificate, the timeout). Node destroys
    // the socket for a protocol error, but only reports the timeout: without this destroy a half-open
    // handshake would hold its connection and TLS state for as long as the client keeps it open. The close
    // handler counts it.
    this.server.on('tlsClientError', (_err: Error, secure: TLSSocket) => { secure.destroy(); });
  }

  /** Starts the handshake on an accepted socket; `onSecure` gets the TLS socket, `onFailed` a failure. */
  accept(socket: Socket, onSecure: (secure: TLSSocket) => void, onFailed: () => void): void {
    const gen = Atomics.load(this.cell, TLS_GENERATION);
    if (gen !== this.generation) this.reload(gen);
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    if (socket.remoteAddress === undefined || this.pending.has(peer)) {
      socket.destroy();
      onFailed();
      return;
    }
    socket.once('close', () => {
      if (this.pending.delete(peer)) {
        this.hooks.handshakeFailed();
        onFailed();
      }
    });
    this.pending.set(peer, onSecure);
    this.server.emit('connection', socket);
  }

  private readonly onSecure = (secure: TLSSocket): void => {
    const peer = `${secure.remoteAddress}:${secure.remotePort}`;
    const onSecure = this.pending.get(peer);
    if (onSecure === undefined) {
      secure.destroy();
      return;
    }
    // SSL_VERIFY_PEER without FAIL_IF_NO_PEER_CERT: no certificate is fine, a certificate that fails
    // verification is not.
    if (this.files.sslVerifyMode !== 0 && !secure.authorized && hasPeerCertificate(secure)) {
      secure.destroy();
      return;
    }
    this.pending.delete(peer);
    onSecure(secure);
  };

  /**
   * refresh_certs: loads the files for new connections on every thread. Returns undefined on success, else
   * memcached's error text (its reply, without the trailing \r\n); the files in use then stay.
   */
  refresh(): string | undefined {
    const material = loadServerMaterial(this.files);
    if (typeof material === 'string') return material.slice(material.indexOf(': ') + 2);
    this.server.setSecureContext(contextOptions(this.files, material));
    Atomics.store(this.cell, TLS_REFRESH_TIME, this.hooks.now());
    this.generation = Atomics.add(this.cell, TLS_GENERATION, 1) + 1;
    this.hooks.refreshed?.({ cert: material.cert, key: material.key, ...(material.ca !== undefined ? { ca: material.ca } : {}) }, this.generation);
    return undefined;
  }

  /**
   * Serves certificate bytes another thread has already loaded and checked (-o ssl_refresh_on_change, or
   * refresh_certs as `generation`) to new connections; that thread set the refresh time. Bytes of a
   * generation older than this thread's are stale and skipped. Returns the error text if they do not load.
   */
  install(bytes: { cert: Uint8Array; key: Uint8Array; ca?: Uint8Array }, generation?: number): string | undefined {
    if (generation !== undefined) {
      if (generation < this.generation) return undefined;
      this.generation = generation;
    }
    const byPath = new Map<string, Buffer>([[this.files.sslChainCert, Buffer.from(bytes.cert)], [this.files.sslKey, Buffer.from(bytes.key)]]);
    if (bytes.ca !== undefined) byPath.set(this.files.sslCaCert, Buffer.from(bytes.ca));
    const material = loadServerMaterial(this.files, (path) => {
      const b = byPath.get(path);
      if (b === undefined) throw new Error(`${path} was not sent`);
      return b;
    });
    if (typeof material === 'string') return material;
    this.server.setSecureContext(contextOptions(this.files, material));
    return undefined;
  }

  /** Seconds since the files were last loaded (memcached's time_since_server_cert_refresh). */
  secondsSinceRefresh(): number {
    return this.hooks.now() - Atomics.load(this.cell, TLS_REFRESH_TIME);
  }

  private reload(gen: number): void {
    this.generation = gen;
    const material = loadServerMaterial(this.files);
    if (typeof material === 'string') {
      this.hooks.reloadFailed(material);
      return;
    }
    this.server.setSecureContext(contextOptions(this.files, material));
  }
}

function contextOptions(files: ServerTlsFiles, m: ServerMaterial): { cert: Buffer; key: Buffer; ca?: Buffer; minVersion: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3' } {
  return { cert: m.cert, key: m.key, ...(m.ca !== undefined ? { ca: m.ca } : {}), minVersion: TLS_MIN_VERSIONS[files.sslMinVersion] ?? 'TLSv1.2' };
}

function hasPeerCertificate(s: TLSSocket): boolean {
  const cert = s.getPeerCertificate();
  return cert !== null && typeof cert === 'object' && Object.keys(cert).length > 0;
}
