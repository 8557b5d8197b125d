/**
 * cachalot-sidecar assembled: a ring source feeding routing tables, a registry of upstreams shared between
 * tables, a memcached listener for the application, and the metrics port. The current table is one field;
 * applying a ring builds a new table and assigns it, which is the whole atomic swap (routing.ts).
 */
import net from 'node:net';
import type { Server as HttpServer } from 'node:http';
import type { Logger } from 'pino';
import { ClientConn, type ClientLimits, type ClientOwner } from './client/connection.js';
import type { SidecarConfig } from './config.js';
import { Dispatcher, type DispatchContext } from './routing/dispatch.js';
import { SidecarMetrics, serveMetrics } from './metrics.js';
import type { RingMemberSpec, RingSpec } from '../ring/document.js';
import type { RingSource } from '../ring/source.js';
import { RoutingTable } from './routing/table.js';
import { SidecarStats, statsReply } from './sidecar-stats.js';
import { Upstream, type UpstreamOptions } from './upstream/upstream.js';
import { UpstreamSecurity } from './upstream/security.js';
import { setSpin } from './batch.js';
import { AuthGate } from '../protocol/asciiauth.js';
import { loadAuthFile, watchAuthFile } from '../runtime/authfile.js';
import { createTlsCell, loadServerMaterial, ServerTls } from '../net/tls.js';
import { watchCertFiles } from '../net/certfiles.js';
import { LISTEN_TLS_FLAGS } from './config.js';

export class Sidecar implements ClientOwner {
  readonly stats = new SidecarStats();
  readonly metrics = new SidecarMetrics(this.stats);
  readonly dispatcher: Dispatcher;
  readonly limits: ClientLimits;
  readonly listenAuth: AuthGate | undefined;
  private stopWatchingAuth: (() => void) | null = null;
  /** --listen-tls-*: the handshake of each accepted socket (net/tls.ts, as cachalot-server's -Z). */
  private readonly listenTls: ServerTls | undefined;
  private stopWatchingCerts: (() => void) | null = null;
  private current: RoutingTable | null = null;
  private readonly upstreams = new Map<string, Upstream>();
  private ejectedGeneration = 0;
  private readonly clients = new Set<ClientConn>();
  private server: net.Server | null = null;
  private httpServer: HttpServer | null = null;
  private readonly startedAt = Date.now();
  private readonly upstreamOptions: UpstreamOptions;
  private stopping: Promise<void> | null = null;
  port = 0;
  metricsPort = 0;

  constructor(readonly config: SidecarConfig, private readonly source: RingSource, readonly log: Logger) {
    this.limits = {
      outputLimit: config.outputLimit,
      maxInFlight: config.maxInFlight,
      maxGetLine: Math.max(config.maxItemSize, 1 << 20),
      idleTimeout: config.idleTimeout,
    };
    this.upstreamOptions = {
      connectTimeoutMs: config.connectTimeoutMs,
      requestTimeoutMs: config.requestTimeoutMs,
      failureLimit: config.failureLimit,
      retryTimeoutMs: config.retryTimeoutMs,
      connections: config.serverConnections,
      security: UpstreamSecurity.open(config.upstreamSecurity, log),
    };
    const ctx: DispatchContext = {
      table: () => this.current,
      ejectedGeneration: () => this.ejectedGeneration,
      stats: this.stats,
      maxItemSize: config.maxItemSize,
      transitionFill: config.transitionFill,
      statsReply: (sub) => statsReply(this.statsView, sub),
    };
    this.dispatcher = new Dispatcher(ctx);
    setSpin(config.spinUs);
    this.listenAuth = this.openListenAuth();
    this.listenTls = this.openListenTls();
  }

  /** --listen-tls-*: TLS on the listener, its files followed as cachalot-server's -o ssl_refresh_on_change. */
  private openListenTls(): ServerTls | undefined {
    const files = this.config.listenTls;
    if (files === undefined) return undefined;
    const material = loadServerMaterial(files, undefined, LISTEN_TLS_FLAGS);
    if (typeof material === 'string') throw new Error(material);
    const seconds = (): number => Math.floor(Date.now() / 1000);
    const tls = new ServerTls(files, material, createTlsCell(seconds()), {
      now: seconds,
      handshakeFailed: () => {
        this.stats.ssl_handshake_errors++;
      },
      reloadFailed: (message) => this.log.error({}, `listener TLS files: ${message}`),
    });
    this.stopWatchingCerts = watchCertFiles(files, this.log, (bytes) => {
      const problem = tls.install(bytes);
      if (problem !== undefined) this.log.error({}, `listener TLS files: ${problem}; the certificate in use stays`);
    });
    return tls;
  }

  /** --listen-auth-file: the gate, following the file (the new table applies to the next attempt). */
  private openListenAuth(): AuthGate | undefined {
    const path = this.config.listenAuthFile;
    if (path === undefined) return undefined;
    const table = loadAuthFile(path);
    if (typeof table === 'string') throw new Error(`--listen-auth-file ${path}: ${table}`);
    const stats = this.stats;
    const gate = new AuthGate(table, {
      attempt(failed) {
        stats.auth_cmds++;
        if (failed) stats.auth_errors++;
      },
    });
    this.stopWatchingAuth = watchAuthFile(path, '--listen-auth-file', this.log, (_bytes, next) => {
      gate.table = next;
    });
    return gate;
  }

  /** The routing table in use (null until the first ring). */
  get table(): RoutingTable | null {
    return this.current;
  }

  /** Starts the ring source (waiting for its first read), the memcached listener and the metrics port. */
  async start(): Promise<void> {
    await this.source.start({
      ring: (spec, origin) => this.applyRing(spec, origin),
      invalid: (err, origin) => {
        this.stats.ring_reload_errors++;
        this.metrics.ringReloads.inc({ result: 'invalid' });
        this.log.error({ origin, err: err.message }, 'ring not applied; keeping the current one');
      },
    });
    if (this.current === null) this.log.warn('no ring yet: keys are answered as misses until one is read');
    const server = net.createServer({ noDelay: true }, (sock) => this.accept(sock));
    server.maxConnections = this.config.maxConnections;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.config.port, this.config.listen, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.port = (server.address() as net.AddressInfo).port;
    if (this.config.metricsPort !== 0) {
      const m = await serveMetrics(this.metrics, this.config.metricsListen, this.config.metricsPort, () => this.current !== null);
      this.httpServer = m.server;
      this.metricsPort = m.port;
    }
    this.log.info({ listen: `${this.config.listen}:${this.port}`, metricsPort: this.metricsPort || undefined }, 'cachalot-sidecar listening');
  }

  private accept(sock: net.Socket): void {
    if (this.stopping) {
      sock.destroy();
      return;
    }
    if (this.listenTls === undefined) this.serve(sock);
    // A failed handshake costs that connection only; it is counted in ssl_handshake_errors.
    else this.listenTls.accept(sock, (secure) => this.serve(secure), () => {});
  }

  private serve(sock: net.Socket): void {
    if (this.stopping) {
      sock.destroy();
      return;
    }
    const c = new ClientConn(sock, this, this.stats.total_connections);
    this.clients.add(c);
    this.stats.curr_connections++;
    this.stats.total_connections++;
  }

  clientClosed(c: ClientConn): void {
    if (this.clients.delete(c)) this.stats.curr_connections--;
  }

  /** Builds the table for a ring and swaps it in; requests already routed finish on their upstreams. */
  applyRing(spec: RingSpec, origin = 'api'): void {
    const old = this.current;
    if (old !== null && old.version === spec.version && sameRouting(old.spec, spec)) {
      this.metrics.ringReloads.inc({ result: 'unchanged' });
      return;
    }
    const used = new Set<Upstream>();
    const table = new RoutingTable(spec, (m) => {
      const u = this.upstreamFor(m);
      used.add(u);
      return u;
    }, this.config.ejected);
    for (const u of used) u.refs++;
    this.current = table;
    if (old !== null) {
      for (const u of new Set(old.all)) {
        if (--u.refs === 0) this.retire(u);
      }
    }
    this.stats.ring_reloads++;
    this.metrics.ringReloads.inc({ result: 'applied' });
    const draining = spec.members.length - table.active.length;
    this.metrics.ring(spec.version, table.active.length, draining);
    this.log.info({ origin, version: spec.version, active: table.active.length, draining, previous: old?.version }, 'ring applied');
  }

  private upstreamFor(m: RingMemberSpec): Upstream {
    let u = this.upstreams.get(m.address);
    if (u === undefined) {
      u = new Upstream(m.address, m.host, m.port, this.upstreamOptions, this.metrics.observer(m.address), {
        healthChanged: () => {
          this.ejectedGeneration++;
        },
      }, this.log);
      this.upstreams.set(m.address, u);
    }
    return u;
  }

  /** An upstream no ring uses: it finishes what it has in flight, then closes. */
  private retire(u: Upstream): void {
    this.upstreams.delete(u.address);
    u.retire();
  }

  private get statsView() {
    return {
      stats: this.stats,
      startedAt: this.startedAt,
      spinUs: this.config.spinUs,
      ringVersion: () => this.current?.version ?? 0,
      membersByState: () => {
        const t = this.current;
        return { active: t?.active.length ?? 0, draining: t ? t.spec.members.length - t.active.length : 0 };
      },
      upstreamSummary: () => {
        let ejected = 0;
        let inFlight = 0;
        for (const u of this.upstreams.values()) {
          if (u.ejected) ejected++;
          inFlight += u.inFlight;
        }
        return { servers: this.upstreams.size, ejected, inFlight };
      },
    };
  }

  /**
   * Graceful stop: no new connections; each client's requests already read are answered (bounded by the
   * request timeout), then it is closed; after `shutdownTimeoutMs` whatever is left is closed.
   */
  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    this.stopping = (async () => {
      this.source.stop();
      this.server?.close();
      for (const c of this.clients) c.drain();
      const deadline = Date.now() + this.config.shutdownTimeoutMs;
      while (this.clients.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      for (const c of this.clients) c.closeNow();
      for (const u of this.upstreams.values()) u.stop();
      this.upstreams.clear();
      this.upstreamOptions.security?.close();
      this.stopWatchingAuth?.();
      this.stopWatchingCerts?.();
      if (this.httpServer) await new Promise<void>((r) => this.httpServer!.close(() => r()));
      this.log.info('cachalot-sidecar stopped');
    })();
    return this.stopping;
  }
}

/**
 * Same members, hosts, ports, weights, states and hash parameters, and the same `previous` (or none): nothing
 * a client routes, fills or invalidates by changed.
 */
function sameRouting(a: RingSpec, b: RingSpec): boolean {
  if (a.vnodes !== b.vnodes || !sameMembers(a.members, b.members)) return false;
  const pa = a.previous;
  const pb = b.previous;
  if (pa === undefined || pb === undefined) return pa === pb;
  return pa.vnodes === pb.vnodes && sameMembers(pa.members, pb.members);
}

function sameMembers(a: readonly RingMemberSpec[], b: readonly RingMemberSpec[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((m, i) => {
    const n = b[i]!;
    return m.address === n.address && m.weight === n.weight && m.state === n.state;
  });
}
