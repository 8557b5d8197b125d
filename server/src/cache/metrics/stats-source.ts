/**
 * The values behind `stats`, in memcached 1.6.18's order and with its names. Lines that describe
 * memcached internals this server does not have (slab rebalancing, LRU crawler, libevent) keep their
 * names with neutral values, so that tools which expect them keep parsing.
 */
import type { Store, StoreStats } from '../store/types.js';
import type { ServerConfig } from '../config.js';
import {
  C, CounterReader, GAUGE_ACCEPTING, GAUGE_CONNECTION_STRUCTURES, GAUGE_CURR_CONNECTIONS, GAUGE_RING_STATE,
  GAUGE_RING_VERSION, RING_STATES,
} from './counters.js';
import { ITEM_UPDATE_INTERVAL, type Clock } from '../../runtime/clock.js';
import { VERSION } from '../../protocol/version.js';

/** The numbers behind `stats` (engine/stats.ts formats them as memcached does). */
export type StatValue = string | number;
export type StatLines = Array<[string, StatValue]>;

export interface StatsSource {
  general(): StatLines;
  settings(): StatLines;
  items(): StatLines;
  slabs(): StatLines;
  conns(): StatLines;
  /** Extra groups (e.g. "extstore"); undefined when the group does not exist. */
  group?(name: string): StatLines | undefined;
  reset(): void;
}

export interface ConnInfo {
  fd: number;
  remote: string;
  local: string;
  state: string;
  secsSinceLastCmd: number;
}

export interface StatsContext {
  store: Store;
  counters: CounterReader;
  config: ServerConfig;
  clock: Clock;
  /** Connections of the calling thread (memcached lists all; each worker knows its own). */
  conns(): ConnInfo[];
  verbosity(): number;
  extra?(group: string): StatLines | undefined;
  extraGeneral?(): StatLines;
  /** -Z: ssl_handshake_errors and time_since_server_cert_refresh, placed where memcached prints them. */
  tlsGeneral?(): StatLines;
}

function seconds(micros: number): string {
  const s = Math.floor(micros / 1e6);
  return `${s}.${String(Math.floor(micros - s * 1e6)).padStart(6, '0')}`;
}

/** A server that follows the ring (--ring-member): its name, the version in force and what it purged. */
export function ringLines(c: CounterReader, member: string): StatLines {
  return [
    ['ring_member', member],
    ['ring_version', c.gauge(GAUGE_RING_VERSION)],
    ['ring_state', RING_STATES[c.gauge(GAUGE_RING_STATE)] ?? 'waiting'],
    ['ring_purged_items', c.get('ring_purged_items')],
  ];
}

export class ServerStats implements StatsSource {
  constructor(private readonly ctx: StatsContext) {}

  /** Store totals relative to the last `stats reset`. */
  private storeStats(): StoreStats {
    const c = this.ctx.counters;
    const st = { ...this.ctx.store.stats() };
    st.totalItems -= c.get('base_total_items');
    st.evictions -= c.get('base_evictions');
    st.reclaimed -= c.get('base_reclaimed');
    st.expiredUnfetched -= c.get('base_expired_unfetched');
    st.evictedUnfetched -= c.get('base_evicted_unfetched');
    st.evictedActive -= c.get('base_evicted_active');
    return st;
  }

  general(): StatLines {
    const { counters: c, config, clock } = this.ctx;
    const st = this.storeStats();
    const usage = process.resourceUsage();
    const now = clock.now();
    const slots = Math.max(1, st.indexSlots ?? 0);
    const lines: StatLines = [
      ['pid', process.pid],
      ['uptime', Math.max(0, now - ITEM_UPDATE_INTERVAL - 2)],
      ['time', Math.floor(Date.now() / 1000)],
      ['version', VERSION],
      ['libevent', `node-${process.version}`],
      ['pointer_size', 64],
      ['rusage_user', seconds(usage.userCPUTime)],
      ['rusage_system', seconds(usage.systemCPUTime)],
      ['max_connections', config.maxConnections],
      ['curr_connections', c.gauge(GAUGE_CURR_CONNECTIONS)],
      // memcached counts its listening socket as a connection too.
      ['total_connections', c.get('total_connections') + 1],
      ['rejected_connections', c.get('rejected_connections')],
      ['connection_structures', c.gauge(GAUGE_CONNECTION_STRUCTURES)],
      ['response_obj_oom', 0],
      ['response_obj_count', 0],
      ['response_obj_bytes', 0],
      ['read_buf_count', 0],
      ['read_buf_bytes', 0],
      ['read_buf_bytes_free', 0],
      ['read_buf_oom', 0],
      ['reserved_fds', 0],
      ['cmd_get', c.get('cmd_get')],
      ['cmd_set', c.get('cmd_set')],
      ['cmd_flush', c.get('cmd_flush')],
      ['cmd_touch', c.get('cmd_touch')],
      ['cmd_meta', c.get('cmd_meta')],
      ['get_hits', c.get('get_hits')],
      ['get_misses', c.get('get_misses')],
      ['get_expired', c.get('get_expired')],
      ['get_flushed', c.get('get_flushed')],
      ['delete_misses', c.get('delete_misses')],
      ['delete_hits', c.get('delete_hits')],
      ['incr_misses', c.get('incr_misses')],
      ['incr_hits', c.get('incr_hits')],
      ['decr_misses', c.get('decr_misses')],
      ['decr_hits', c.get('decr_hits')],
      ['cas_misses', c.get('cas_misses')],
      ['cas_hits', c.get('cas_hits')],
      ['cas_badval', c.get('cas_badval')],
      ['touch_hits', c.get('touch_hits')],
      ['touch_misses', c.get('touch_misses')],
      ['store_too_large', c.get('store_too_large')],
      ['store_no_memory', c.get('store_no_memory')],
      ['auth_cmds', c.get('auth_cmds')],
      ['auth_errors', c.get('auth_errors')],
      // memcached prints idle_kicks only when an idle timeout is set.
      ...(config.idleTimeout > 0 ? [['idle_kicks', c.get('idle_kicks')] as [string, number]] : []),
      ['bytes_read', c.get('bytes_read')],
      ['bytes_written', c.get('bytes_written')],
      ['limit_maxbytes', st.limitMaxbytes],
      ['accepting_conns', c.gauge(GAUGE_ACCEPTING)],
      ['listen_disabled_num', c.get('listen_disabled_num')],
      ['time_in_listen_disabled_us', 0],
      ['threads', config.threads],
      ['conn_yields', c.get('conn_yields')],
      ['hash_power_level', Math.round(Math.log2(slots))],
      ['hash_bytes', slots * 8],
      ['hash_is_expanding', 0],
      ['slab_reassign_rescues', 0],
      ['slab_reassign_chunk_rescues', 0],
      ['slab_reassign_evictions_nomem', 0],
      ['slab_reassign_inline_reclaim', 0],
      ['slab_reassign_busy_items', 0],
      ['slab_reassign_busy_deletes', 0],
      ['slab_reassign_running', 0],
      ['slabs_moved', 0],
      ['lru_crawler_running', 0],
      ['lru_crawler_starts', 0],
      ['lru_maintainer_juggles', 0],
      ['malloc_fails', c.get('malloc_fails')],
      ['log_worker_dropped', 0],
      ['log_worker_written', 0],
      ['log_watcher_skipped', 0],
      ['log_watcher_sent', 0],
      ['log_watchers', 0],
      ...(this.ctx.tlsGeneral?.() ?? []),
      ['unexpected_napi_ids', 0],
      ['round_robin_fallback', 0],
      ['bytes', st.bytes],
      ['curr_items', st.currItems],
      ['total_items', st.totalItems],
      ['slab_global_page_pool', st.segmentsFree],
      ['expired_unfetched', st.expiredUnfetched],
      ['evicted_unfetched', st.evictedUnfetched],
      ['evicted_active', st.evictedActive],
      ['evictions', st.evictions],
      ['reclaimed', st.reclaimed],
      ['crawler_reclaimed', 0],
      ['crawler_items_checked', 0],
      ['lrutail_reflocked', 0],
      ['moves_to_cold', 0],
      ['moves_to_warm', 0],
      ['moves_within_lru', 0],
      ['direct_reclaims', 0],
      ['lru_bumps_dropped', 0],
    ];
    if (config.ringMember !== undefined) lines.push(...ringLines(c, config.ringMember));
    const extra = this.ctx.extraGeneral?.();
    if (extra) lines.push(...extra);
    return lines;
  }

  settings(): StatLines {
    const { config, store } = this.ctx;
    const ext = config.extPaths;
    return [
      ['maxbytes', store.options.memoryLimit],
      ['maxconns', config.maxConnections],
      ['tcpport', config.port],
      ['udpport', config.udpPort],
      ['inter', config.listen],
      ['verbosity', this.ctx.verbosity()],
      ['oldest', store.stats().oldestLive ?? 0],
      ['evictions', 'on'],
      ['domain_socket', 'NULL'],
      ['umask', 700],
      ['shutdown_command', config.enableShutdown ? 'yes' : 'no'],
      ['growth_factor', '1.25'],
      ['chunk_size', 48],
      ['num_threads', config.threads],
      ['num_threads_per_udp', config.threads],
      ['stat_key_prefix', ':'],
      ['detail_enabled', 'no'],
      ['reqs_per_event', 20],
      ['cas_enabled', 'yes'],
      ['tcp_backlog', config.backlog],
      ['binding_protocol', 'ascii'],
      ['auth_enabled_sasl', 'no'],
      ['auth_enabled_ascii', config.security.authFile !== '' ? 'yes' : 'no'],
      ['item_size_max', config.maxItemSize],
      ['maxconns_fast', 'yes'],
      ['hashpower_init', 0],
      ['slab_reassign', 'no'],
      ['slab_automove', 0],
      ['slab_automove_ratio', '0.80'],
      ['slab_automove_window', 30],
      ['slab_chunk_max', store.stats().segmentSize],
      ['lru_crawler', 'no'],
      ['lru_crawler_sleep', 100],
      ['lru_crawler_tocrawl', 0],
      ['tail_repair_time', 0],
      ['flush_enabled', 'yes'],
      ['dump_enabled', 'no'],
      ['hash_algorithm', 'murmur3'],
      ['lru_maintainer_thread', 'no'],
      ['lru_segmented', 'no'],
      ['hot_lru_pct', 20],
      ['warm_lru_pct', 40],
      ['hot_max_factor', '0.20'],
      ['warm_max_factor', '2.00'],
      ['temp_lru', 'no'],
      ['temporary_ttl', 61],
      ['idle_timeout', config.idleTimeout],
      ['watcher_logbuf_size', 262144],
      ['worker_logbuf_size', 65536],
      ['read_buf_mem_limit', 0],
      ['track_sizes', 'no'],
      ['inline_ascii_response', 'no'],
      ['ext_item_size', config.extItemSize],
      ['ext_item_age', 4294967295],
      ['ext_low_ttl', 0],
      ['ext_recache_rate', 2000],
      ['ext_wbuf_size', config.extWbufSize],
      ['ext_compact_under', 0],
      ['ext_drop_under', 0],
      ['ext_max_sleep', 1000000],
      ['ext_max_frag', '0.80'],
      ['slab_automove_freeratio', '0.010'],
      ['ext_drop_unread', 'no'],
      ['ssl_enabled', config.security.tls ? 'yes' : 'no'],
      ['ssl_chain_cert', config.security.sslChainCert || '(null)'],
      ['ssl_key', config.security.sslKey || '(null)'],
      ['ssl_verify_mode', config.security.sslVerifyMode],
      ['ssl_keyformat', 1],
      ['ssl_ciphers', 'NULL'],
      ['ssl_ca_cert', config.security.sslCaCert || 'NULL'],
      ['ssl_wbuf_size', 16384],
      ['ssl_session_cache', 'no'],
      ['ssl_kernel_tls', 'no'],
      ['ssl_min_version', config.security.sslMinVersion],
      ['num_napi_ids', '(null)'],
      ['memory_file', ext.length > 0 ? ext.map((e) => e.path).join(',') : '(null)'],
    ];
  }

  /**
   * The store has one size-agnostic item class; it is reported as slab class 1 so that per-class tools
   * (memcached_exporter's items/slabs collectors) see the totals.
   */
  items(): StatLines {
    const st = this.storeStats();
    if (st.currItems === 0) return [];
    const p = 'items:1:';
    return [
      [p + 'number', st.currItems], [p + 'number_hot', 0], [p + 'number_warm', 0], [p + 'number_cold', st.currItems],
      [p + 'age_hot', 0], [p + 'age_warm', 0], [p + 'age', 0], [p + 'mem_requested', st.bytes],
      [p + 'evicted', st.evictions], [p + 'evicted_nonzero', 0], [p + 'evicted_time', 0], [p + 'outofmemory', 0],
      [p + 'tailrepairs', 0], [p + 'reclaimed', st.reclaimed], [p + 'expired_unfetched', st.expiredUnfetched],
      [p + 'evicted_unfetched', st.evictedUnfetched], [p + 'evicted_active', st.evictedActive],
      [p + 'crawler_reclaimed', 0], [p + 'crawler_items_checked', 0], [p + 'lrutail_reflocked', 0],
      [p + 'moves_to_cold', 0], [p + 'moves_to_warm', 0], [p + 'moves_within_lru', 0], [p + 'direct_reclaims', 0],
      [p + 'hits_to_hot', 0], [p + 'hits_to_warm', 0], [p + 'hits_to_cold', this.ctx.counters.get('get_hits')],
      [p + 'hits_to_temp', 0],
    ];
  }

  slabs(): StatLines {
    const st = this.storeStats();
    const c = this.ctx.counters;
    const used = st.segmentsTotal - st.segmentsFree;
    const lines: StatLines = [];
    if (st.currItems > 0) {
      const p = '1:';
      lines.push(
        [p + 'chunk_size', st.segmentSize], [p + 'chunks_per_page', 1], [p + 'total_pages', used],
        [p + 'total_chunks', used], [p + 'used_chunks', used], [p + 'free_chunks', st.segmentsFree],
        [p + 'free_chunks_end', 0], [p + 'get_hits', c.get('get_hits')], [p + 'cmd_set', c.get('cmd_set')],
        [p + 'delete_hits', c.get('delete_hits')], [p + 'incr_hits', c.get('incr_hits')],
        [p + 'decr_hits', c.get('decr_hits')], [p + 'cas_hits', c.get('cas_hits')],
        [p + 'cas_badval', c.get('cas_badval')], [p + 'touch_hits', c.get('touch_hits')],
      );
    }
    lines.push(['active_slabs', st.currItems > 0 ? 1 : 0], ['total_malloced', st.segmentsTotal * st.segmentSize]);
    return lines;
  }

  conns(): StatLines {
    const { config } = this.ctx;
    // The listening socket first, as memcached lists it.
    const lines: StatLines = [
      ['0:addr', `tcp:${config.listen}:${config.port}`],
      ['0:state', 'conn_listening'],
      ['0:secs_since_last_cmd', 0],
    ];
    for (const c of this.ctx.conns()) {
      lines.push([`${c.fd}:addr`, `tcp:${c.remote}`]);
      lines.push([`${c.fd}:listen_addr`, `tcp:${c.local}`]);
      lines.push([`${c.fd}:state`, c.state]);
      lines.push([`${c.fd}:secs_since_last_cmd`, c.secsSinceLastCmd]);
    }
    return lines;
  }

  group(name: string): StatLines | undefined {
    return this.ctx.extra?.(name);
  }

  reset(): void {
    const c = this.ctx.counters;
    const st = this.ctx.store.stats();
    c.reset();
    c.setBase(C.base_total_items, st.totalItems);
    c.setBase(C.base_evictions, st.evictions);
    c.setBase(C.base_reclaimed, st.reclaimed);
    c.setBase(C.base_expired_unfetched, st.expiredUnfetched);
    c.setBase(C.base_evicted_unfetched, st.evictedUnfetched);
    c.setBase(C.base_evicted_active, st.evictedActive);
  }
}
