/**
 * A worker thread: accepts connections from the shared listening socket and serves them to the end.
 * Every worker runs the same code; worker 0 also creates the listening socket and hands its fd to the
 * main thread, which passes it on to the other workers (on Node 20 `listen({ fd })` lets several
 * threads accept from one socket; a connection stays on the thread that accepted it).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { parentPort, workerData, threadId } from 'node:worker_threads';
import pino from 'pino';
import { getHeapStatistics } from 'node:v8';
import { openTieredStore } from './store/store.js';
import { LogFlashTier, WriteBufferGate, type FlashMemory } from './flash/flash.js';
import type { StoreMemory } from './store/types.js';
import { Clock } from '../runtime/clock.js';
import { TextEngine } from './engine/text.js';
import { listeningFd } from '../runtime/internals.js';
import { Connection, type ConnectionOwner } from './connection.js';
import {
  C, CounterReader, Counters, GAUGE_ACCEPTING, GAUGE_CONNECTION_STRUCTURES, GAUGE_CURR_CONNECTIONS,
  type CounterMemory,
} from './metrics/counters.js';
import { PrefixStats, type PrefixStatsMemory } from './metrics/prefix-stats.js';
import { ServerStats } from './metrics/stats-source.js';
import type { ServerConfig } from './config.js';
import { openSecurity } from './security.js';
import type { SecurityBytes } from './security-config.js';
import type { CertBytes } from '../net/certfiles.js';

export interface WorkerInit {
  index: number;
  config: ServerConfig;
  store: StoreMemory;
  counters: CounterMemory;
  processStarted: number;
  /** The shared cell of the main thread's ticking clock (runtime/clock.ts). */
  clock: SharedArrayBuffer;
  /** The listening socket's fd; absent for worker 0, which creates it. */
  fd?: number;
  /** flash tier: its shared memory, when -o ext_path is given. */
  flash?: FlashMemory;
  /** -Z: the shared TLS cell (net/tls.ts). */
  tlsCell?: SharedArrayBuffer;
  /** -Y and -Z: the files' latest bytes the main thread read and checked. */
  securityBytes: SecurityBytes;
  /** `stats detail`'s table, one for all workers. */
  prefixStats: PrefixStatsMemory;
}

export type WorkerMessage =
  | { type: 'listening'; fd: number; address: string; port: number }
  | { type: 'listen-error'; code: string; message: string }
  | { type: 'shutdown-command'; graceful: boolean }
  | { type: 'verbosity'; level: number }
  | { type: 'drained' }
  /** refresh_certs loaded these bytes on this thread: the main thread hands them to every thread. */
  | { type: 'certs-refreshed'; bytes: CertBytes; generation: number };

export type MainMessage = { type: 'shutdown'; quietMs: number } | { type: 'verbosity'; level: number }
  | { type: 'auth'; bytes: Uint8Array } | { type: 'certs'; bytes: CertBytes; generation?: number };

const REJECT_TEXT = 'ERROR Too many open connections\r\n';

function main(): void {
  const init = workerData as WorkerInit;
  const { config } = init;
  const port = parentPort!;
  const log = pino({ level: config.logLevel, base: { thread: init.index } });
  // The main thread's clock ticks into init.clock; this one reads it (runtime/clock.ts).
  const clock = new Clock(init.processStarted, new Int32Array(init.clock));
  // RAM, and flash behind it when -o ext_path is given: the tiered store demotes and promotes itself.
  const flash = init.flash !== undefined ? new LogFlashTier(init.flash, init.index, log) : undefined;
  const store = openTieredStore(init.store, { lower: flash, now: () => clock.now() });
  const counters = new Counters(init.counters, init.index);
  const prefixes = new PrefixStats(init.prefixStats, config.prefixDelimiter.charCodeAt(0));
  const reader = new CounterReader(init.counters);
  const gauges = counters.gauges;
  const conns = new Set<Connection>();
  let verbosity = config.verbosity;
  let accepting = true;
  const security = openSecurity(config.security, init.securityBytes, init.tlsCell, counters, reader, () => clock.now(), log,
    (bytes, generation) => port.postMessage({ type: 'certs-refreshed', bytes, generation } satisfies WorkerMessage));

  const stats = new ServerStats({
    store,
    counters: reader,
    config,
    clock,
    verbosity: () => verbosity,
    // flash tier: memcached's extstore lines in `stats`, and the `stats extstore` group.
    extraGeneral: flash === undefined ? undefined : () => flash.statPairs(),
    extra: flash === undefined ? undefined : (group) => (group === 'extstore' ? flash.extstoreStats() : undefined),
    tlsGeneral: () => security.statLines(),
    detailEnabled: () => prefixes.enabled(),
    conns: () => {
      const now = clock.now();
      return [...conns].map((c, i) => ({
        fd: i + 1,
        remote: c.remote,
        local: c.local,
        state: c.state,
        secsSinceLastCmd: c.session.lastCommandTime === 0 ? 0 : now - c.session.lastCommandTime,
      }));
    },
  });

  const engine = new TextEngine(store, counters, clock, {
    maxItemSize: config.maxItemSize,
    shutdownEnabled: config.enableShutdown,
    flushEnabled: !config.disableFlush,
    allocFirst: config.noEvict,
  }, {
    shutdown: (graceful) => port.postMessage({ type: 'shutdown-command', graceful } satisfies WorkerMessage),
    setVerbosity: (level) => {
      verbosity = level;
      port.postMessage({ type: 'verbosity', level } satisfies WorkerMessage);
    },
    refreshCerts: () => security.refreshCerts(),
  }, stats);
  engine.auth = security.auth;
  engine.prefixes = prefixes;

  const owner: ConnectionOwner = {
    engine,
    counters,
    // Writes wait for the flusher rather than have their evictions dropped (flash/backpressure.ts).
    flashGate: flash !== undefined && flash.wbufWaitMs > 0 ? new WriteBufferGate(flash, log) : undefined,
    limits: {
      outputLimit: config.outputLimit,
      maxGetLine: Math.max(config.maxItemSize, 1 << 20),
      idleTimeout: config.idleTimeout,
      // The Writable-stream fallback of directwrite.ts, for the tests that check it still works.
      directWrites: process.env.CACHALOT_STREAM_WRITES !== '1',
    },
    closed: (conn) => {
      if (conns.delete(conn)) Atomics.sub(gauges, GAUGE_CURR_CONNECTIONS, 1);
      if (!accepting && conns.size === 0) port.postMessage({ type: 'drained' } satisfies WorkerMessage);
    },
  };

  const onConnection = (socket: Socket): void => {
    if (!accepting) {
      socket.destroy();
      return;
    }
    const n = Atomics.add(gauges, GAUGE_CURR_CONNECTIONS, 1) + 1;
    if (n > config.maxConnections) {
      // memcached's maxconns_fast behaviour: tell the client, close, count it.
      Atomics.sub(gauges, GAUGE_CURR_CONNECTIONS, 1);
      counters.row[C.rejected_connections]++;
      socket.on('error', () => {});
      socket.end(REJECT_TEXT);
      return;
    }
    counters.row[C.total_connections]++;
    const structures = Atomics.load(gauges, GAUGE_CONNECTION_STRUCTURES);
    if (n > structures) Atomics.compareExchange(gauges, GAUGE_CONNECTION_STRUCTURES, structures, n);
    security.accept(socket, (served) => conns.add(new Connection(served, owner)), () => {
      Atomics.sub(gauges, GAUGE_CURR_CONNECTIONS, 1);
    });
  };

  const server: Server = createServer({ noDelay: true }, onConnection);
  server.on('error', (err: NodeJS.ErrnoException) => {
    port.postMessage({ type: 'listen-error', code: err.code ?? 'ERROR', message: err.message } satisfies WorkerMessage);
  });
  server.on('listening', () => {
    const addr = server.address();
    const bound = typeof addr === 'object' && addr !== null ? addr : { address: config.listen, port: config.port };
    const fd = listeningFd(server);
    if (fd === undefined && config.threads > 1) {
      // The other workers accept on this socket's fd (listen({ fd })); without it they cannot.
      port.postMessage({ type: 'listen-error', code: 'ENOFD', message: 'this Node does not expose the listening socket\'s fd; run with -t 1' } satisfies WorkerMessage);
      return;
    }
    port.postMessage({ type: 'listening', fd: fd ?? -1, address: bound.address, port: bound.port } satisfies WorkerMessage);
  });
  if (init.fd === undefined) server.listen({ port: config.port, host: config.listen, backlog: config.backlog });
  else server.listen({ fd: init.fd });

  port.on('message', (msg: MainMessage) => {
    if (msg.type === 'verbosity') {
      verbosity = msg.level;
      return;
    }
    if (msg.type === 'auth') {
      security.reloadAuth(msg.bytes);
      return;
    }
    if (msg.type === 'certs') {
      security.installCerts(msg.bytes, msg.generation);
      return;
    }
    if (msg.type === 'shutdown') {
      // Stop taking connections. Worker 0 created the listening socket and closes it, once, so the kernel
      // refuses new connections (clients and health checks fail over at once). The other workers share
      // that fd number without a dup: their epoll registrations go with the close, and they never close
      // their own handle (a second close could hit a reused fd number); the process exit ends them.
      accepting = false;
      if (init.fd === undefined) server.close();
      Atomics.store(gauges, GAUGE_ACCEPTING, 0);
      log.debug({ connections: conns.size }, 'draining connections');
      if (conns.size === 0) port.postMessage({ type: 'drained' } satisfies WorkerMessage);
      for (const c of conns) c.beginDrain(msg.quietMs);
    }
  });
  // Heap use of this thread, summed over threads at scrape time (bench: heap growth per stored item).
  const heapTimer = setInterval(() => {
    counters.row[C.heap_used_bytes] = getHeapStatistics().used_heap_size;
  }, 1000);
  heapTimer.unref();
  counters.row[C.heap_used_bytes] = getHeapStatistics().used_heap_size;
  log.debug({ threadId }, 'worker started');
}

main();
