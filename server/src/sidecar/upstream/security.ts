/**
 * The sidecar's side of the servers' security: TLS to every upstream (`--tls-ca`, optionally a client
 * certificate with `--tls-cert`/`--tls-key`) and memcached's ASCII authentication (`--auth-file`, holding
 * `user password`). Applications keep speaking plaintext to the sidecar on localhost.
 *
 * Each new upstream connection first sends the auth `set` (memcached's protocol.txt, Authentication) and
 * consumes its `STORED` before any reply is matched to a client's request; anything else fails that
 * connection, so its requests are answered as a failed server's are. The files are read again when they
 * change (Kubernetes Secret volumes are swapped, not edited): new connections use the new material,
 * connections already open keep theirs. A changed file that does not parse is logged and the material in
 * use stays.
 */
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { connect as tlsConnect, createSecureContext, type SecureContext } from 'node:tls';
import { FileWatcher } from '../../runtime/filewatch.js';

export interface UpstreamSecurityOptions {
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  authFile?: string;
}

/** consumeAuthReply results besides an offset. */
export const AUTH_NEED_MORE = -1;
export const AUTH_REFUSED = -2;

const STORED = Buffer.from('STORED\r\n');
/** A reply line to the auth set longer than this is not memcached's. */
const MAX_AUTH_REPLY = 1024;

interface Material {
  context: SecureContext | undefined;
  preamble: Buffer | undefined;
}

/** A combination of the flags that cannot work, whatever the files hold: the message naming the flag. */
export function upstreamFlagProblem(opts: UpstreamSecurityOptions): string | undefined {
  if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) {
    return opts.tlsCert === undefined ? '--tls-key: needs --tls-cert (the client certificate)' : '--tls-cert: needs --tls-key (its private key)';
  }
  if (opts.tlsCert !== undefined && opts.tlsCa === undefined) return '--tls-cert: needs --tls-ca (the CA of the servers\' certificates)';
  return undefined;
}

/** Checks the flags and reads the files; returns the material or a message naming the flag. */
function load(opts: UpstreamSecurityOptions, files: Map<string, Buffer>): Material | string {
  const flags = upstreamFlagProblem(opts);
  if (flags !== undefined) return flags;
  const read = (flag: string, path: string): Buffer | string => {
    const got = files.get(path);
    if (got !== undefined) return got;
    try {
      return readFileSync(path);
    } catch (err) {
      return `${flag} ${path}: ${(err as Error).message}`;
    }
  };
  let context: SecureContext | undefined;
  if (opts.tlsCa !== undefined) {
    const ca = read('--tls-ca', opts.tlsCa);
    if (typeof ca === 'string') return ca;
    let cert: Buffer | undefined;
    let key: Buffer | undefined;
    if (opts.tlsCert !== undefined && opts.tlsKey !== undefined) {
      const c = read('--tls-cert', opts.tlsCert);
      if (typeof c === 'string') return c;
      const k = read('--tls-key', opts.tlsKey);
      if (typeof k === 'string') return k;
      cert = c;
      key = k;
    }
    try {
      createSecureContext({ ca });
    } catch (err) {
      return `--tls-ca ${opts.tlsCa}: ${(err as Error).message}`;
    }
    try {
      context = createSecureContext({ ca, cert, key, minVersion: 'TLSv1.2' });
    } catch (err) {
      return `--tls-key ${opts.tlsKey}: does not fit --tls-cert ${opts.tlsCert}: ${(err as Error).message}`;
    }
  }
  let preamble: Buffer | undefined;
  if (opts.authFile !== undefined) {
    const bytes = read('--auth-file', opts.authFile);
    if (typeof bytes === 'string') return bytes;
    const text = bytes.toString('latin1').replace(/\r?\n$/, '');
    if (!/^[^\s]+ [^\s]+$/.test(text)) {
      return `--auth-file ${opts.authFile}: must hold one line 'user password' (one space between, none inside)`;
    }
    // memcached reads the credential as the data block of any `set`; the key is not used.
    const block = Buffer.from(text, 'latin1');
    preamble = Buffer.concat([Buffer.from(`set auth 0 0 ${block.length}\r\n`), block, Buffer.from('\r\n')]);
  }
  return { context, preamble };
}

/** Validates the flags and files at start: undefined when they are usable, else the message. */
export function checkUpstreamSecurity(opts: UpstreamSecurityOptions): string | undefined {
  const got = load(opts, new Map());
  return typeof got === 'string' ? got : undefined;
}

export interface SecurityLog {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export class UpstreamSecurity {
  private material: Material;
  private readonly watcher: FileWatcher | null;

  /** undefined when no security flag is given. */
  static open(opts: UpstreamSecurityOptions, log: SecurityLog): UpstreamSecurity | undefined {
    if (opts.tlsCa === undefined && opts.authFile === undefined) return undefined;
    return new UpstreamSecurity(opts, log);
  }

  private constructor(private readonly opts: UpstreamSecurityOptions, log: SecurityLog) {
    const first = load(opts, new Map());
    if (typeof first === 'string') throw new Error(first);
    this.material = first;
    const paths = [opts.tlsCa, opts.tlsCert, opts.tlsKey, opts.authFile].filter((p): p is string => p !== undefined);
    this.watcher = new FileWatcher(paths, (contents) => {
      const files = new Map(paths.map((p, i) => [p, contents[i]]));
      const next = load(this.opts, files);
      if (typeof next === 'string') {
        log.error({}, `${next}; new upstream connections keep the material in use`);
        return;
      }
      this.material = next;
      log.info({ files: paths }, 'upstream TLS/auth files reloaded; new upstream connections use them');
    });
  }

  get tls(): boolean {
    return this.material.context !== undefined;
  }

  /**
   * A connection to host:port and the event after which requests may be written ('secureConnect' for TLS);
   * TLS sockets deliver bytes through 'data'.
   */
  connect(host: string, port: number): { socket: net.Socket; ready: 'connect' | 'secureConnect' } {
    const context = this.material.context;
    if (context === undefined) return { socket: net.connect({ host, port }), ready: 'connect' };
    const socket = tlsConnect({
      host, port, secureContext: context,
      // SNI carries names only; a server addressed by IP is checked against the certificate's IP SANs.
      ...(net.isIP(host) === 0 ? { servername: host } : {}),
    });
    return { socket, ready: 'secureConnect' };
  }

  /** The auth `set` a new connection sends first, or undefined without --auth-file. */
  authPreamble(): Buffer | undefined {
    return this.material.preamble;
  }

  /** Reads the files now, as a change event would (new material only if one changed and it loads). */
  reloadNow(): void {
    this.watcher?.check();
  }

  close(): void {
    this.watcher?.close();
  }
}

/**
 * The server's reply to the auth `set` at buf[pos, end): the offset after "STORED\r\n", AUTH_NEED_MORE, or
 * AUTH_REFUSED (any other line: `CLIENT_ERROR authentication failure` and the like).
 */
export function consumeAuthReply(buf: Buffer, pos: number, end: number): number {
  const have = Math.min(end - pos, STORED.length);
  if (buf.compare(STORED, 0, have, pos, pos + have) !== 0) {
    const nl = buf.indexOf(10, pos);
    return (nl >= 0 && nl < end) || end - pos > MAX_AUTH_REPLY ? AUTH_REFUSED : AUTH_NEED_MORE;
  }
  return have < STORED.length ? AUTH_NEED_MORE : pos + STORED.length;
}
