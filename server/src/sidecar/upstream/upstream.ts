/**
 * One upstream server: its persistent connections and its health, twemproxy-style. Every failure (a connect
 * that fails or times out, a request that times out, a connection lost with requests on it) counts; any reply
 * resets the count. After `failureLimit` consecutive failures the server is ejected for `retryTimeoutMs`
 * (server_failure_limit / server_retry_timeout); then a probe (`version`) is sent on a fresh connection and the
 * server comes back only when it answers, so a dead server costs clients one failure per retry period at
 * most, not `failureLimit` of them.
 *
 * A server that has never answered this sidecar is one joining the ring (or one down since the sidecar
 * started), not one that flaps: a scale-up's new pod is published once Ready, but its DNS name may not resolve
 * yet, so the first connects fail and eject it. Its probes start at JOINING_PROBE_FIRST_MS and double up to the
 * retry period. With the fixed 30 s period the new members' keys were misses (and their sets SERVER_ERROR) for
 * the whole 30 s after a scale-up: in the e2e under CPU load the warm hit ratio of that window fell to 0.68 of
 * the steady state. Probes cost clients nothing, so probing sooner only shortens the ejection.
 *
 * Upstreams are keyed by address and shared by successive rings, so a ring change keeps warm connections.
 */
import net from 'node:net';
import type { Logger } from 'pino';
import { UpstreamConn, type ConnOwner } from './connection.js';
import type { Part } from '../request.js';
import type { UpstreamSecurity } from './security.js';

/** The first probe of a server that has never answered; then 2x, 4x, ... up to the retry period. */
export const JOINING_PROBE_FIRST_MS = 250;

/**
 * How long an ejected server waits for its next probe: the retry period, or, for a server that has never
 * answered, JOINING_PROBE_FIRST_MS doubled per probe already made (`probes`), capped at the retry period.
 */
export function probeDelayMs(answered: boolean, probes: number, retryTimeoutMs: number): number {
  if (answered) return retryTimeoutMs;
  return Math.min(retryTimeoutMs, JOINING_PROBE_FIRST_MS * 2 ** Math.min(probes, 30));
}

export interface UpstreamOptions {
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  failureLimit: number;
  retryTimeoutMs: number;
  connections: number;
  /** --tls-ca / --auth-file: how connections (and probes) reach the servers. */
  security?: UpstreamSecurity;
}

/** What the metrics layer records about an upstream (metrics.ts binds one per address). */
export interface UpstreamObserver {
  request(): void;
  replied(ms: number): void;
  failed(reason: string): void;
  ejected(on: boolean): void;
}

export interface UpstreamHooks {
  /** Ejection state changed (the router recomputes its failover continuum). */
  healthChanged(u: Upstream): void;
}

export class Upstream implements ConnOwner {
  readonly connectTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly security: UpstreamSecurity | undefined;
  private readonly conns: Array<UpstreamConn | null>;
  private failures = 0;
  /** Any reply or probe answer ever (see the header: a server never answered is probed sooner). */
  private answered = false;
  /** Probes scheduled while never answered (the joining schedule's exponent). */
  private joiningProbes = 0;
  ejected = false;
  /** Rings that reference this upstream; 0 means it is closed once its connections are idle. */
  refs = 0;
  private probeTimer: NodeJS.Timeout | null = null;
  private probeSocket: net.Socket | null = null;
  private stopped = false;

  constructor(
    readonly address: string,
    readonly host: string,
    readonly port: number,
    private readonly opts: UpstreamOptions,
    private readonly observer: UpstreamObserver,
    private readonly hooks: UpstreamHooks,
    private readonly log: Logger,
  ) {
    this.connectTimeoutMs = opts.connectTimeoutMs;
    this.requestTimeoutMs = opts.requestTimeoutMs;
    this.security = opts.security;
    this.conns = new Array<UpstreamConn | null>(opts.connections).fill(null);
  }

  get consecutiveFailures(): number {
    return this.failures;
  }

  /**
   * Queues a part on one of the connections and returns it, for the caller to write bytes to. A client always
   * uses the same connection (`affinity` modulo the pool), because requests on different connections may be
   * executed in any order: a set and the get after it must not overtake each other.
   */
  send(part: Part, now: number, affinity: number): UpstreamConn {
    const conn = this.connFor(affinity);
    conn.enqueue(part, now);
    return conn;
  }

  /** send() for a single-key `get` of key[ks, ke): the connection may coalesce it with the get before it. */
  sendGet(part: Part, now: number, affinity: number, key: Buffer, ks: number, ke: number): void {
    this.connFor(affinity).enqueueGet(part, now, key, ks, ke);
  }

  /** The client's connection (opened again if it closed), with the request counted. */
  private connFor(affinity: number): UpstreamConn {
    const i = affinity % this.conns.length;
    let conn = this.conns[i];
    if (conn === null || conn === undefined || conn.isClosed) {
      conn = new UpstreamConn(this);
      this.conns[i] = conn;
    }
    this.observer.request();
    return conn;
  }

  /** Requests outstanding on every connection. */
  get inFlight(): number {
    let n = 0;
    for (const c of this.conns) if (c) n += c.inFlight;
    return n;
  }

  replied(ms: number): void {
    this.failures = 0;
    this.answered = true;
    this.observer.replied(ms);
    if (this.refs === 0) this.closeIdle();
  }

  connFailed(_conn: UpstreamConn, reason: 'timeout' | 'connect' | 'closed' | 'protocol'): void {
    this.observer.failed(reason);
    if (this.stopped || this.ejected) return;
    this.failures++;
    this.log.warn({ upstream: this.address, reason, failures: this.failures }, 'upstream failure');
    if (this.failures >= this.opts.failureLimit) this.eject();
  }

  connClosed(conn: UpstreamConn): void {
    const i = this.conns.indexOf(conn);
    if (i >= 0) this.conns[i] = null;
  }

  private eject(): void {
    this.ejected = true;
    this.observer.ejected(true);
    this.log.error({ upstream: this.address, retryMs: probeDelayMs(this.answered, this.joiningProbes, this.opts.retryTimeoutMs) }, 'upstream ejected');
    this.hooks.healthChanged(this);
    this.scheduleProbe();
  }

  private scheduleProbe(): void {
    if (this.stopped) return;
    const delay = probeDelayMs(this.answered, this.joiningProbes, this.opts.retryTimeoutMs);
    if (!this.answered) this.joiningProbes++;
    this.probeTimer = setTimeout(this.probe, delay);
    this.probeTimer.unref();
  }

  /** After the retry period: one `version` on a fresh connection decides whether the server is back. */
  private readonly probe = (): void => {
    this.probeTimer = null;
    if (this.stopped) return;
    const secured = this.security?.connect(this.host, this.port);
    const sock = secured?.socket ?? net.connect({ host: this.host, port: this.port });
    // With --auth-file the probe authenticates first and skips the STORED before VERSION.
    const preamble = this.security?.authPreamble();
    this.probeSocket = sock;
    let answered = '';
    const timer = setTimeout(() => finish(false), this.opts.connectTimeoutMs + this.opts.requestTimeoutMs);
    let finished = false;
    // A refused probe emits both 'error' and 'close': without the guard each failed probe scheduled two
    // more, and the probes of a server down for long multiplied.
    const finish = (ok: boolean): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      sock.destroy();
      this.probeSocket = null;
      if (this.stopped || !this.ejected) return;
      if (!ok) {
        this.log.info({ upstream: this.address }, 'upstream probe failed; still ejected');
        this.scheduleProbe();
        return;
      }
      this.ejected = false;
      this.failures = 0;
      this.answered = true;
      this.observer.ejected(false);
      this.log.info({ upstream: this.address }, 'upstream answered its probe; back in service');
      this.hooks.healthChanged(this);
    };
    sock.on(secured?.ready ?? 'connect', () => sock.write(preamble === undefined ? 'version\r\n' : Buffer.concat([preamble, Buffer.from('version\r\n')])));
    let authed = preamble === undefined;
    sock.on('data', (d: Buffer) => {
      answered += d.toString('latin1');
      if (!authed) {
        if (!answered.includes('\n')) return;
        if (!answered.startsWith('STORED\r\n')) {
          finish(false);
          return;
        }
        authed = true;
        answered = answered.slice(8);
      }
      if (answered.includes('\n')) finish(answered.startsWith('VERSION '));
    });
    sock.on('error', () => finish(false));
    sock.on('close', () => finish(false));
  };

  /** Closes connections with nothing outstanding (an upstream no ring references any more). */
  closeIdle(): void {
    for (let i = 0; i < this.conns.length; i++) {
      const c = this.conns[i];
      if (c && c.inFlight === 0) {
        c.close();
        this.conns[i] = null;
      }
    }
  }

  /** No ring routes here any more: stop probing; connections close as soon as they have nothing in flight. */
  retire(): void {
    this.refs = 0;
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.probeTimer = null;
    this.closeIdle();
  }

  /** Stops probing and closes every connection (outstanding parts are failed by their connections). */
  stop(): void {
    this.stopped = true;
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.probeSocket?.destroy();
    for (const c of this.conns) c?.close();
    this.conns.fill(null);
  }
}
