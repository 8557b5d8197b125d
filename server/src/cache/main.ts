#!/usr/bin/env node
/**
 * cachalot-server entry: config -> store -> workers (listener) -> metrics HTTP -> signals.
 *
 * The main thread serves no cache traffic. It owns the shared memory (store and counters), starts the
 * worker threads, answers /metrics /healthz /readyz, and runs the shutdown sequence: stop accepting,
 * let every connection finish what it sent, then exit 0.
 */
import { Worker } from 'node:worker_threads';
import { getHeapStatistics } from 'node:v8';
import pino from 'pino';
import { ConfigError, defaultShards, memoryReserveBytes, parseArgs, type ServerConfig } from './config.js';
import { createStoreMemory, effectiveShards, openTieredStore, startPretouch, storeIndexBytes } from './store/store.js';
import { createPrefixStatsMemory } from './metrics/prefix-stats.js';
import { C, CounterReader, Counters, createCounterMemory, GAUGE_ACCEPTING, GAUGE_READY } from './metrics/counters.js';
import { Clock } from '../runtime/clock.js';
import { startMetricsServer } from './metrics/http.js';
import type { MainMessage, WorkerInit, WorkerMessage } from './worker.js';
import { watchAuthFile } from '../runtime/authfile.js';
import { createTlsCell, markTlsRefresh, tlsGeneration } from '../net/tls.js';
import { readSecurityBytes } from './security-config.js';
import { watchCertFiles } from '../net/certfiles.js';
import { DirLocks, FlashError, LogFlashTier, createFlashMemory, flashMemoryBytes, validateFlashOptions, startFlusher, startReader, stopFlusher, type FlashMemory, type FlashOptions, type FlusherMessage } from './flash/flash.js';
import { RingPurger } from './purge.js';
import { FileRingSource } from '../ring/file.js';
import type { RingSource } from '../ring/source.js';

/** Quiet time after which a draining connection with nothing pending is closed. */
const DRAIN_QUIET_MS = 50;
/** memcached's process exit code for a bad command line is EX_USAGE. */
const EX_USAGE = 64;

function run(config: ServerConfig): void {
  const log = pino({ level: config.logLevel, base: { pid: process.pid } });
  if (config.ignoredOptions.length > 0) log.info({ options: config.ignoredOptions }, 'memcached options accepted without effect');

  // memcached's current_time: ticked here into shared memory, read by every worker (runtime/clock.ts).
  const clockMemory = new SharedArrayBuffer(4);
  const clock = Clock.startingNow(new Int32Array(clockMemory));
  clock.startTicking();
  const memoryLimit = config.memoryLimitMb * 1024 * 1024;
  const shards = effectiveShards(memoryLimit, config.maxItemSize, defaultShards(config));
  const flashOptions: FlashOptions | undefined = config.extPaths.length === 0 ? undefined : {
    paths: config.extPaths, shards, wbufSize: config.extWbufSize,
    maxItemSize: config.maxItemSize + 512, threads: config.threads, processStarted: clock.processStarted,
    itemSize: config.extItemSize, readers: config.extThreads, wbufWaitMs: config.extWbufWaitMs,
  };
  const storeMemory = createStoreMemory({
    memoryLimit,
    maxItemSize: config.maxItemSize,
    shards,
    memoryReserve: memoryReserveBytes(config),
    noEvict: config.noEvict,
    // With a flash tier, -m bounds both tiers' memory: the RAM index and the tier's buffers come out of
    // it, not on top (docs/flash.md, Memory). At -m 512 with a 2 GiB tier they were 74 MiB on top of -m, and the
    // RSS 695 MiB against memcached's 528 (its extstore keeps its item headers inside -m).
    memoryOverhead: flashOptions === undefined ? 0
      : storeIndexBytes(memoryLimit, config.maxItemSize, shards) + flashMemoryBytes(validateFlashOptions(flashOptions)).inLimit,
  });
  // Segment pages are faulted in here, ahead of the workers' writes (store/pretouch.ts).
  const pretouch = startPretouch(storeMemory);
  const prefixStats = createPrefixStatsMemory();

  // ---- flash tier: shared memory, the flusher thread (recovers the index before any worker
  // starts), the main thread's view for /metrics, /readyz and the shutdown flush.
  let flashMemory: FlashMemory | undefined;
  let flash: LogFlashTier | undefined;
  let flusher: Worker | undefined;
  let flashReady = true;
  if (config.extPaths.length > 0) {
    // One server per directory: a second one exits here, before it reads or deletes anything.
    const locks = new DirLocks();
    try {
      locks.acquire(config.extPaths.map((p) => p.path));
    } catch (err) {
      if (!(err instanceof FlashError)) throw err;
      log.fatal({ code: err.code }, err.message);
      process.stderr.write(`cachalot-server: ${err.message}\n`);
      process.exit(EX_USAGE);
    }
    process.on('exit', () => locks.release());
    flashMemory = createFlashMemory(flashOptions!, storeMemory);
    // ext_threads: the serving threads' flash reads (unreferenced threads; they die with the process).
    for (let r = 0; r < config.extThreads; r++) startReader(flashMemory, r, config.extThreads);
    flash = new LogFlashTier(flashMemory, config.threads, log);
    flashReady = false;
    flusher = startFlusher({ memory: flashMemory, logLevel: config.logLevel, now: clock.now() });
    flusher.on('error', (err) => {
      // Without its flusher the tier only loses writes (the write buffer fills, evictions are dropped and
      // counted); RAM keeps serving.
      log.error({ err }, 'flash flusher thread failed: items evicted from RAM are no longer written to flash');
      flusher = undefined;
      if (!flashReady) flashRecovered();
    });
  }
  // ---- end flash tier
  // The main thread's view of both tiers: /metrics, the shutdown flush and the ring purge (purge.ts).
  const store = openTieredStore(storeMemory, { lower: flash, now: () => clock.now() });
  const counterMemory = createCounterMemory(config.threads);
  const reader = new CounterReader(counterMemory);
  const mainCounters = new Counters(counterMemory, config.threads);
  const gauges = mainCounters.gauges;
  const workers: Worker[] = [];
  let listening = 0;
  let shuttingDown = false;
  let drained = 0;

  const heapTimer = setInterval(() => {
    mainCounters.row[C.heap_used_bytes] = getHeapStatistics().used_heap_size;
  }, 1000);
  heapTimer.unref();

  const metrics = startMetricsServer({
    store,
    counters: reader,
    config,
    ready: () => !shuttingDown && flashReady && Atomics.load(gauges, GAUGE_READY) === 1,
    extraText: flash === undefined ? undefined : () => flash!.metricsText(),
  }, (err) => {
    log.fatal({ err }, `cannot serve metrics on ${config.metricsListen}:${config.metricsPort} (--metrics-port)`);
    process.exit(1);
  });

  // ---- the ring (--ring-file / --ring-configmap with --ring-member): followed here, purged here.
  let ringSource: RingSource | undefined;
  const purger = config.ringMember === undefined ? undefined
    : new RingPurger(store, mainCounters, () => clock.now(), log, { member: config.ringMember, ratePerSecond: config.ringPurgeRate });
  if (purger !== undefined) {
    openRingSource(config).then((source) => {
      if (shuttingDown) return;
      ringSource = source;
      return source.start(purger);
    }).catch((err: Error) => {
      log.fatal({ err: err.message }, 'cannot follow the ring');
      process.stderr.write(`cachalot-server: ${err.message}\n`);
      process.exit(EX_USAGE);
    });
  }

  const broadcast = (msg: MainMessage): void => {
    for (const w of workers) w.postMessage(msg);
  };
  // -Y: reloaded on SIGHUP (as memcached) and when the file changes; -Z: the refresh_certs cell. memcached's
  // first certificate load happens before its clock starts, at current_time 0; so does this one.
  const security = config.security;
  const firstBytes = readSecurityBytes(security);
  if (typeof firstBytes === 'string') {
    // The files were checked while parsing the flags; they changed since and no longer load.
    process.stderr.write(`cachalot-server: ${firstBytes}\n`);
    process.exit(EX_USAGE);
  }
  // Workers started later (threads after the first, replacements) start from the latest bytes.
  const securityBytes = firstBytes;
  if (security.authFile !== '') {
    watchAuthFile(security.authFile, '-Y', log, (bytes) => {
      securityBytes.auth = bytes;
      broadcast({ type: 'auth', bytes });
    });
  }
  const tlsCell = security.tls ? createTlsCell(0) : undefined;
  if (tlsCell !== undefined && security.sslRefreshOnChange) {
    watchCertFiles(security, log, (bytes) => {
      securityBytes.certs = bytes;
      securityBytes.certsGeneration = tlsGeneration(tlsCell);
      markTlsRefresh(tlsCell, clock.now());
      broadcast({ type: 'certs', bytes });
    });
  }

  // flash tier: after the connections drained, RAM items go to flash (ext_flush_on_shutdown),
  // then the flusher writes what is queued, syncs and exits; bounded by --shutdown-timeout.
  let flashStopped = false;
  const stopFlash = (code: number, then: () => void): void => {
    if (flash === undefined || flashMemory === undefined || flusher === undefined || flashStopped) {
      then();
      return;
    }
    flashStopped = true;
    const deadline = Date.now() + config.shutdownTimeout * 1000;
    if (code === 0 && config.extFlushOnShutdown && flashReady) {
      const t0 = Date.now();
      const items = flash.demoteAll(store, clock.now(), deadline);
      log.info({ items, ms: Date.now() - t0 }, 'RAM items queued for flash (ext_flush_on_shutdown)');
    }
    const worker = flusher;
    const timer = setTimeout(() => {
      log.warn('flash flusher did not finish before the shutdown deadline');
      then();
    }, Math.max(1000, deadline - Date.now()));
    worker.once('exit', () => {
      clearTimeout(timer);
      then();
    });
    stopFlusher(flashMemory);
  };

  const finish = (code: number): void => {
    if (!flashStopped && flusher !== undefined) {
      stopFlash(code, () => finish(code));
      return;
    }
    clearInterval(heapTimer);
    metrics?.close();
    Promise.allSettled(workers.map((w) => w.terminate())).then(() => {
      log.info({ code }, 'cachalot-server stopped');
      process.exit(code);
    });
  };

  const shutdown = (reason: string): void => {
    if (shuttingDown) {
      log.warn({ reason }, 'second shutdown request: exiting now');
      process.exit(1);
    }
    shuttingDown = true;
    pretouch.stop();
    purger?.stop();
    ringSource?.stop();
    Atomics.store(gauges, GAUGE_READY, 0);
    Atomics.store(gauges, GAUGE_ACCEPTING, 0);
    log.info({ reason }, 'shutting down: no new connections, finishing requests already received');
    broadcast({ type: 'shutdown', quietMs: DRAIN_QUIET_MS });
    const deadline = setTimeout(() => {
      log.warn({ seconds: config.shutdownTimeout }, 'connections still open at the shutdown deadline; closing them');
      finish(0);
    }, config.shutdownTimeout * 1000);
    deadline.unref();
    if (workers.length === 0) finish(0);
  };

  const onWorkerMessage = (index: number) => (msg: WorkerMessage): void => {
    switch (msg.type) {
      case 'listening':
        listening++;
        if (index === 0) {
          log.info({ address: msg.address, port: msg.port, threads: config.threads, memoryMb: config.memoryLimitMb }, 'listening');
          // The socket accepts (and worker 0 serves) from here on: memcached's accepting_conns is 1 whenever
          // it accepts. Ready waits for every worker.
          if (!shuttingDown) Atomics.store(gauges, GAUGE_ACCEPTING, 1);
          // A signal that arrived during start-up stops here: no more workers to attach to the socket
          // worker 0 is about to close.
          if (!shuttingDown) for (let i = 1; i < config.threads; i++) spawn(i, msg.fd);
        }
        if (listening === config.threads && !shuttingDown) {
          Atomics.store(gauges, GAUGE_READY, 1);
          log.info('ready');
        }
        break;
      case 'listen-error':
        // During shutdown worker 0 has closed the shared socket; a worker still attaching sees EINVAL.
        if (shuttingDown) break;
        log.fatal({ code: msg.code }, `cannot listen on ${config.listen}:${config.port} (-l/-p): ${msg.message}`);
        process.stderr.write(`cachalot-server: cannot listen on ${config.listen}:${config.port} (-l/-p): ${msg.message}\n`);
        process.exit(1);
        break;
      case 'shutdown-command':
        shutdown('shutdown command');
        break;
      case 'verbosity':
        broadcast({ type: 'verbosity', level: msg.level });
        break;
      case 'certs-refreshed':
        // The bytes refresh_certs loaded, to every thread and to workers started later: another thread
        // reading the files at its next accept could find them changed again (a renewal half written).
        if (msg.generation >= (securityBytes.certsGeneration ?? 0)) {
          securityBytes.certs = msg.bytes;
          securityBytes.certsGeneration = msg.generation;
          broadcast({ type: 'certs', bytes: msg.bytes, generation: msg.generation });
        }
        break;
      case 'drained':
        drained++;
        if (shuttingDown && drained >= workers.length) finish(0);
        break;
    }
  };

  const spawn = (index: number, fd?: number): void => {
    const init: WorkerInit = { index, config, store: storeMemory, counters: counterMemory, processStarted: clock.processStarted, clock: clockMemory, fd, flash: flashMemory, tlsCell, securityBytes, prefixStats };
    const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: init });
    worker.on('message', onWorkerMessage(index));
    worker.on('error', (err) => {
      log.fatal({ err, worker: index }, 'worker thread failed');
      process.exit(1);
    });
    worker.on('exit', (code) => {
      if (!shuttingDown) {
        log.fatal({ worker: index, code }, 'worker thread exited unexpectedly');
        process.exit(1);
      }
    });
    workers.push(worker);
  };

  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  // memcached 1.6: SIGUSR1 is its graceful stop (this listener also keeps Node from opening its
  // inspector on 127.0.0.1:9229), and SIGHUP must not take the cache down.
  process.on('SIGUSR1', () => shutdown('SIGUSR1'));
  if (security.authFile === '') process.on('SIGHUP', () => log.info('SIGHUP: ignored'));
  // flash tier: workers start once the index is rebuilt from the files, so no client sees a
  // half-recovered tier (and /readyz stays 503 until then).
  function flashRecovered(): void {
    flashReady = true;
    if (flash !== undefined) {
      store.ensureCasAbove(flash.maxRecoveredCas());
      // A delayed flush_all saved before the restart applies to what is stored until its deadline.
      const oldestLive = flash.pendingOldestLive();
      if (oldestLive > 0) store.setOldestLive(oldestLive);
    }
    if (!shuttingDown) spawn(0);
    purger?.start();
  }
  if (flusher === undefined) {
    spawn(0);
    purger?.start();
  } else {
    flusher.once('message', (msg: FlusherMessage) => {
      if (msg.type === 'recovered' && !flashReady) flashRecovered();
    });
  }
}

/** The ring source the flags name; an Error naming the flag when it cannot be set up. */
async function openRingSource(config: ServerConfig): Promise<RingSource> {
  if (config.ringFile !== undefined) return new FileRingSource(config.ringFile, config.ringPollMs);
  // Loaded only for the API source: @kubernetes/client-node adds most of a second to start-up.
  const { KubeConfig } = await import('@kubernetes/client-node');
  const { ConfigMapRingSource } = await import('../ring/configmap.js');
  const kc = new KubeConfig();
  try {
    kc.loadFromDefault();
  } catch (err) {
    throw new Error(`--ring-configmap: no Kubernetes credentials (${(err as Error).message})`);
  }
  const ref = config.ringConfigMap!;
  return new ConfigMapRingSource(kc, ref.namespace, ref.name);
}

function entry(): void {
  let parsed;
  try {
    parsed = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`cachalot-server: ${err.message}\n`);
      process.exit(EX_USAGE);
    }
    throw err;
  }
  if (parsed.kind === 'exit') {
    process.stdout.write(parsed.text);
    return;
  }
  run(parsed.config);
}

entry();
