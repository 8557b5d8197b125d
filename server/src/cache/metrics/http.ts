/**
 * The HTTP side port (memcached_exporter's 9150): /metrics in Prometheus text format with
 * memcached_exporter's metric names, computed at scrape time from the shared counters and the store, plus
 * per-command latency histograms memcached does not have; /healthz (the process answers) and /readyz
 * (every worker accepts and, with a flash tier, its index is rebuilt).
 */
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Store } from '../store/types.js';
import {
  CounterReader, GAUGE_CURR_CONNECTIONS, GAUGE_RING_STATE, GAUGE_RING_VERSION, LATENCY_BUCKETS_US, LATENCY_COMMANDS,
  RING_STATES, type CounterName,
} from './counters.js';
import type { ServerConfig } from '../config.js';
import { VERSION } from '../../protocol/version.js';

export interface MetricsContext {
  store: Store;
  counters: CounterReader;
  config: ServerConfig;
  ready(): boolean;
  /** Extra metric families (the flash tier adds its own). */
  extraText?(): string;
}

/** memcached_exporter: memcached_commands_total{command,status} from these stats. */
const COMMAND_STATUS: Array<[string, string, CounterName]> = [
  ['get', 'hit', 'get_hits'], ['get', 'miss', 'get_misses'], ['get', 'expired', 'get_expired'],
  ['get', 'flushed', 'get_flushed'], ['delete', 'hit', 'delete_hits'], ['delete', 'miss', 'delete_misses'],
  ['incr', 'hit', 'incr_hits'], ['incr', 'miss', 'incr_misses'], ['decr', 'hit', 'decr_hits'],
  ['decr', 'miss', 'decr_misses'], ['cas', 'hit', 'cas_hits'], ['cas', 'miss', 'cas_misses'],
  ['cas', 'badval', 'cas_badval'], ['touch', 'hit', 'touch_hits'], ['touch', 'miss', 'touch_misses'],
  ['set', 'hit', 'cmd_set'], ['flush', 'hit', 'cmd_flush'],
];

export function buildRegistry(ctx: MetricsContext): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const { counters: c, store } = ctx;
  const gauge = (name: string, help: string, read: () => number): void => {
    new Gauge({ name, help, registers: [registry], collect() { this.set(read()); } });
  };
  const counter = (name: string, help: string, read: () => number): void => {
    new Counter({
      name, help, registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  };
  gauge('memcached_up', 'Could the memcached server be reached.', () => 1);
  gauge('memcached_uptime_seconds', 'Number of seconds since the server started.', () => Math.floor(process.uptime()));
  gauge('memcached_time_seconds', 'Current UNIX time according to the server.', () => Math.floor(Date.now() / 1000));
  new Gauge({
    name: 'memcached_version', help: 'The version of this memcached server.', labelNames: ['version'],
    registers: [registry], collect() { this.set({ version: VERSION }, 1); },
  });
  new Counter({
    name: 'memcached_commands_total', help: 'Total number of all requests broken down by command (get, set, etc.) and status.',
    labelNames: ['command', 'status'], registers: [registry],
    collect() {
      this.reset();
      for (const [command, status, stat] of COMMAND_STATUS) this.inc({ command, status }, c.get(stat));
    },
  });
  gauge('memcached_current_items', 'Current number of items stored by this instance.', () => store.stats().currItems);
  counter('memcached_items_total', 'Total number of items stored during the life of this instance.', () => store.stats().totalItems);
  gauge('memcached_current_bytes', 'Current number of bytes used to store items.', () => store.stats().bytes);
  gauge('memcached_limit_bytes', 'Number of bytes this server is allowed to use for storage.', () => store.stats().limitMaxbytes);
  counter('memcached_items_evicted_total', 'Total number of valid items removed from cache to free memory for new items.', () => store.stats().evictions);
  counter('memcached_items_reclaimed_total', 'Total number of times an entry was stored using memory from an expired entry.', () => store.stats().reclaimed);
  gauge('memcached_current_connections', 'Current number of open connections.', () => c.gauge(GAUGE_CURR_CONNECTIONS));
  gauge('memcached_max_connections', 'Maximum number of clients allowed.', () => ctx.config.maxConnections);
  counter('memcached_connections_total', 'Total number of connections opened since the server started running.', () => c.get('total_connections'));
  counter('memcached_connections_rejected_total', 'Total number of connections rejected due to hitting the maxconns limit.', () => c.get('rejected_connections'));
  counter('memcached_connections_yielded_total', 'Total number of connections yielded running due to hitting the memcached\'s -R limit.', () => c.get('conn_yields'));
  counter('memcached_connections_listener_disabled_total', 'Number of times that memcached has hit its connections limit and disabled its listener.', () => c.get('listen_disabled_num'));
  counter('memcached_read_bytes_total', 'Total number of bytes read by this server from network.', () => c.get('bytes_read'));
  counter('memcached_written_bytes_total', 'Total number of bytes sent by this server to network.', () => c.get('bytes_written'));
  counter('memcached_connections_idle_kicks_total', 'Connections closed by the idle timeout.', () => c.get('idle_kicks'));
  gauge('memcached_malloced_bytes', 'Number of bytes of memory allocated to slab pages.', () => {
    const st = store.stats();
    return (st.segmentsTotal - st.segmentsFree) * st.segmentSize;
  });
  counter('memcached_process_user_cpu_seconds_total', 'Accumulated user time for this process.', () => process.resourceUsage().userCPUTime / 1e6);
  counter('memcached_process_system_cpu_seconds_total', 'Accumulated system time for this process.', () => process.resourceUsage().systemCPUTime / 1e6);
  gauge('cachalot_store_segments_pinned', 'Segment pins held by large values being sent without a copy (they are not evicted meanwhile).', () => store.stats().segmentsPinned ?? 0);
  gauge('cachalot_threads', 'Worker threads serving connections.', () => ctx.config.threads);
  gauge('cachalot_heap_used_bytes', 'V8 heap in use, summed over the main and worker threads.', () => c.get('heap_used_bytes'));
  const member = ctx.config.ringMember;
  if (member !== undefined) {
    gauge('cachalot_ring_version', 'Version of the ring document this server follows (-1 before the first).', () => c.gauge(GAUGE_RING_VERSION));
    counter('cachalot_ring_purged_items_total', 'Items (RAM and flash) dropped because this server does not own their keys under the ring in force.', () => c.get('ring_purged_items'));
    new Gauge({
      name: 'cachalot_ring_state', help: 'What the server does with the ring: 1 for the current state (waiting, transition, not_member, no_active, purging, done, disabled).',
      labelNames: ['member', 'state'], registers: [registry],
      collect() {
        const now = RING_STATES[c.gauge(GAUGE_RING_STATE)] ?? 'waiting';
        for (const state of RING_STATES) this.set({ member, state }, state === now ? 1 : 0);
      },
    });
  }
  return registry;
}

/** Histograms are kept as bucket counts in shared memory, so they are written out by hand. */
export function latencyText(c: CounterReader): string {
  const name = 'cachalot_command_duration_seconds';
  let text = `# HELP ${name} Server-side time to execute a command, from its parsed line to its reply.\n# TYPE ${name} histogram\n`;
  LATENCY_COMMANDS.forEach((command, i) => {
    const h = c.histogram(i);
    LATENCY_BUCKETS_US.forEach((le, b) => {
      text += `${name}_bucket{command="${command}",le="${le / 1e6}"} ${h.buckets[b]}\n`;
    });
    text += `${name}_bucket{command="${command}",le="+Inf"} ${h.count}\n`;
    text += `${name}_sum{command="${command}"} ${h.sumSeconds}\n${name}_count{command="${command}"} ${h.count}\n`;
  });
  return text;
}

export function startMetricsServer(ctx: MetricsContext, onError: (err: Error) => void): Server | undefined {
  if (ctx.config.metricsPort === 0) return undefined;
  const registry = buildRegistry(ctx);
  const server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (url === '/metrics') {
      registry.metrics().then((text) => {
        res.writeHead(200, { 'Content-Type': registry.contentType });
        res.end(text + latencyText(ctx.counters) + (ctx.extraText?.() ?? ''));
      }, (err: Error) => {
        res.writeHead(500, { 'Content-Type': 'text/plain' });
        res.end(`${err.message}\n`);
      });
    } else if (url === '/healthz') {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('ok\n');
    } else if (url === '/readyz') {
      const ready = ctx.ready();
      res.writeHead(ready ? 200 : 503, { 'Content-Type': 'text/plain' });
      res.end(ready ? 'ready\n' : 'not ready\n');
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found\n');
    }
  });
  server.on('error', onError);
  server.listen(ctx.config.metricsPort, ctx.config.metricsListen);
  return server;
}
