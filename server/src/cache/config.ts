/**
 * cachalot-server configuration: memcached's command-line flags (same letters, same long names, same
 * units), plus a config file and CACHALOT_* environment variables. Precedence: defaults < config file <
 * environment < command line. Every value is validated at start; a bad one stops the server with a
 * message that names the flag and the allowed range (STYLE.md rule 7).
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { applySecuritySuboption, checkSecurity, defaultSecurity, type SecurityConfig } from './security-config.js';
import { parseConfigMapRef, type ConfigMapRef } from '../ring/configmap-ref.js';
import { WBUF_WAIT_MS } from './flash/layout.js';

export const DEFAULT_PORT = 11211;
export const DEFAULT_LISTEN = '127.0.0.1';
export const DEFAULT_MEMORY_MB = 64;
export const DEFAULT_MAX_CONNECTIONS = 1024;
export const DEFAULT_MAX_ITEM_SIZE = 1024 * 1024;
export const DEFAULT_METRICS_PORT = 9150; // memcached_exporter's port
export const DEFAULT_BACKLOG = 1024;
/** Reply bytes a slow reader may have queued before we stop reading its requests. */
export const DEFAULT_OUTPUT_LIMIT = 4 * 1024 * 1024;
export const DEFAULT_SHUTDOWN_TIMEOUT_S = 30;

export const MIN_MEMORY_MB = 8; // memcached refuses cache_memlimit below 8 MB too
export const MAX_MEMORY_MB = 1024 * 1024;
/** memcached refuses an -I below 1024 bytes ("Item max size cannot be less than 1024 bytes."). */
export const MIN_ITEM_SIZE = 1024;
export const MAX_ITEM_SIZE = 1024 * 1024 * 1024;
/** memcached's slab_page_size: -o slab_chunk_max must divide it. */
export const SLAB_PAGE_SIZE = 1024 * 1024;
/** memcached 1.6's default slab_chunk_max (half a slab page); -I must be a multiple of it. */
export const DEFAULT_SLAB_CHUNK_MAX = SLAB_PAGE_SIZE / 2;
/** `-D`: memcached's default prefix delimiter for `stats detail`. */
export const DEFAULT_PREFIX_DELIMITER = ':';
export const MAX_THREADS = 256;
/** --ring-file: how often the file is read besides change notifications (the sidecar's default too). */
export const DEFAULT_RING_POLL_MS = 250;
/**
 * -o ring_purge_rate: items (RAM items and flash entries) a purge examines per second. bench/purge.mjs, -t 2
 * on 2 cores, gets paced at 20,000/s, medians of 7 alternating rounds: p99 of gets while purging 0.95x the
 * p99 without at 25,000 items/s, 2.2x at 50,000 (docs/ring.md, "Servers"). 1 M items take 40 s.
 */
export const DEFAULT_RING_PURGE_RATE = 25_000;
export const MAX_RING_PURGE_RATE = 10_000_000;

export interface ExtPath {
  path: string;
  size: number; // bytes
}

export interface ServerConfig {
  port: number;
  listen: string;
  udpPort: number;
  memoryLimitMb: number;
  maxConnections: number;
  threads: number;
  maxItemSize: number;
  verbosity: number;
  enableShutdown: boolean;
  /** `-F`: flush_all refused. */
  disableFlush: boolean;
  /** `-M`: a write that needs memory it cannot have fails instead of evicting. */
  noEvict: boolean;
  /** `-D`: the character ending a key's prefix for `stats detail` (memcached takes the first of -D's). */
  prefixDelimiter: string;
  /** `-o slab_chunk_max` in bytes; 0 when not given. Only checked against -I, as memcached checks it. */
  slabChunkMax: number;
  backlog: number;
  idleTimeout: number;
  metricsPort: number;
  metricsListen: string;
  shards: number;
  /** MB of address space reserved for the item pool: the ceiling for cache_memlimit. */
  memoryReserveMb: number;
  outputLimit: number;
  shutdownTimeout: number;
  extPaths: ExtPath[];
  extItemSize: number;
  extWbufSize: number;
  /** ext_wbuf_wait_ms: how long a write may wait for flash write-buffer room (flash/backpressure.ts). */
  extWbufWaitMs: number;
  extFlushOnShutdown: boolean;
  /** ext_threads: flash reader threads (0: libuv's thread pool). */
  extThreads: number;
  logLevel: string;
  /** -o suboptions memcached has and we accept without effect (logged at start). */
  ignoredOptions: string[];
  /** -Y, -Z and -o ssl_* (security-config.ts). */
  security: SecurityConfig;
  /** --ring-file / --ring-configmap (at most one) and --ring-member: the ring this server follows. */
  ringFile?: string;
  ringConfigMap?: ConfigMapRef;
  ringMember?: string;
  ringPollMs: number;
  /** -o ring_purge_rate: items examined per second by a purge; 0 follows the ring without purging. */
  ringPurgeRate: number;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function defaultConfig(): ServerConfig {
  return {
    port: DEFAULT_PORT,
    listen: DEFAULT_LISTEN,
    udpPort: 0,
    memoryLimitMb: DEFAULT_MEMORY_MB,
    maxConnections: DEFAULT_MAX_CONNECTIONS,
    threads: Math.max(1, Math.min(MAX_THREADS, availableParallelism())),
    maxItemSize: DEFAULT_MAX_ITEM_SIZE,
    verbosity: 0,
    enableShutdown: false,
    disableFlush: false,
    noEvict: false,
    prefixDelimiter: DEFAULT_PREFIX_DELIMITER,
    slabChunkMax: 0,
    backlog: DEFAULT_BACKLOG,
    idleTimeout: 0,
    metricsPort: DEFAULT_METRICS_PORT,
    metricsListen: '0.0.0.0',
    shards: 0,
    memoryReserveMb: 0,
    outputLimit: DEFAULT_OUTPUT_LIMIT,
    shutdownTimeout: DEFAULT_SHUTDOWN_TIMEOUT_S,
    extPaths: [],
    extItemSize: 512,
    extWbufSize: 4 * 1024 * 1024,
    extWbufWaitMs: WBUF_WAIT_MS,
    extFlushOnShutdown: true,
    extThreads: 1,
    logLevel: 'info',
    ignoredOptions: [],
    security: defaultSecurity(),
    ringPollMs: DEFAULT_RING_POLL_MS,
    ringPurgeRate: DEFAULT_RING_PURGE_RATE,
  };
}

/** memcached's -o suboptions that tune slabs, LRUs and crawlers this store does not have. */
const IGNORED_SUBOPTIONS = new Set([
  'maxconns_fast', 'no_maxconns_fast', 'hashpower', 'tail_repair_time', 'no_hashexpand', 'slab_reassign',
  'no_slab_reassign', 'slab_automove', 'slab_automove_ratio', 'slab_automove_window',
  'lru_crawler', 'no_lru_crawler', 'lru_crawler_sleep', 'lru_crawler_tocrawl', 'lru_maintainer',
  'no_lru_maintainer', 'hot_lru_pct', 'warm_lru_pct', 'hot_max_factor', 'warm_max_factor', 'temporary_ttl',
  'modern', 'no_modern', 'watcher_logbuf_size', 'worker_logbuf_size', 'track_sizes', 'no_inline_ascii_resp',
  'inline_ascii_resp', 'ext_page_size', 'ext_io_depth', 'ext_low_ttl', 'ext_recache_rate',
  'ext_compact_under', 'ext_drop_under', 'ext_max_frag', 'ext_max_sleep', 'ext_drop_unread', 'ext_item_age',
  'slab_automove_freeratio', 'read_buf_mem_limit', 'drop_privileges', 'no_drop_privileges', 'lru_segmented',
  'no_lru_segmented', 'hash_algorithm', 'resp_obj_mem_limit',
]);

function fail(msg: string): never {
  throw new ConfigError(msg);
}

function intIn(flag: string, raw: string, min: number, max: number, unit = ''): number {
  if (!/^-?\d+$/.test(raw.trim())) fail(`${flag} must be an integer${unit} between ${min} and ${max} (got '${raw}')`);
  const v = Number(raw.trim());
  if (v < min || v > max) fail(`${flag} must be an integer${unit} between ${min} and ${max} (got '${raw}')`);
  return v;
}

/** memcached's size syntax for -I and ext_path: a number with an optional k/m/g suffix (powers of 1024). */
export function parseSize(flag: string, raw: string, min: number, max: number): number {
  const m = /^(\d+)([kKmMgG]?)$/.exec(raw.trim());
  if (!m) fail(`${flag} must be a size like 1048576, 512k, 1m or 2g (got '${raw}')`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase()] ?? 1;
  const v = Number(m[1]) * mult;
  if (v < min || v > max) fail(`${flag} must be between ${min} and ${max} bytes (got '${raw}')`);
  return v;
}

function applySuboptions(cfg: ServerConfig, raw: string): void {
  for (const part of raw.split(',')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? '' : part.slice(eq + 1);
    switch (key) {
      case 'idle_timeout':
        cfg.idleTimeout = intIn('-o idle_timeout', value, 0, 86400 * 365, ' of seconds');
        break;
      case 'ext_path': {
        const colon = value.lastIndexOf(':');
        if (colon <= 0) fail(`-o ext_path must be DIR:SIZE, for example ext_path=/data:64g (got '${value}')`);
        const size = parseSize('-o ext_path size', value.slice(colon + 1), 1024 * 1024, 2 ** 50);
        cfg.extPaths.push({ path: value.slice(0, colon), size });
        break;
      }
      case 'ext_item_size':
        cfg.extItemSize = intIn('-o ext_item_size', value, 0, MAX_ITEM_SIZE, ' of bytes');
        break;
      case 'ext_threads':
        cfg.extThreads = intIn('-o ext_threads', value, 0, 64);
        break;
      case 'ext_wbuf_size':
        cfg.extWbufSize = parseSize('-o ext_wbuf_size', value, 64 * 1024, 1024 * 1024 * 1024);
        break;
      case 'ext_wbuf_wait_ms':
        cfg.extWbufWaitMs = intIn('-o ext_wbuf_wait_ms', value, 0, 3_600_000, ' of milliseconds');
        break;
      case 'ext_flush_on_shutdown':
        cfg.extFlushOnShutdown = value !== '0' && value !== 'false' && value !== 'no';
        break;
      case 'no_ext_flush_on_shutdown':
        cfg.extFlushOnShutdown = false;
        break;
      case 'metrics_port':
        cfg.metricsPort = intIn('-o metrics_port', value, 0, 65535);
        break;
      case 'memory_reserve':
        cfg.memoryReserveMb = intIn('-o memory_reserve', value, MIN_MEMORY_MB, MAX_MEMORY_MB, ' of megabytes');
        break;
      case 'ring_purge_rate':
        cfg.ringPurgeRate = intIn('-o ring_purge_rate', value, 0, MAX_RING_PURGE_RATE, ' of items per second');
        break;
      case 'slab_chunk_max':
        // memcached reads plain bytes here (no k/m suffix) and crashes on 0 or text; we refuse both.
        if (!/^\d+$/.test(value)) fail(`-o slab_chunk_max must be a number of bytes, 1 to ${SLAB_PAGE_SIZE} (got '${value}')`);
        cfg.slabChunkMax = intIn('-o slab_chunk_max', value, 1, SLAB_PAGE_SIZE, ' of bytes');
        break;
      case 'shards':
        cfg.shards = intIn('-o shards', value, 1, 65536);
        if ((cfg.shards & (cfg.shards - 1)) !== 0) fail(`-o shards must be a power of two (got '${value}')`);
        break;
      default: {
        const security = applySecuritySuboption(cfg.security, key, value);
        if (typeof security === 'string') fail(security);
        if (security) break;
        if (IGNORED_SUBOPTIONS.has(key)) cfg.ignoredOptions.push(part);
        else fail(`Illegal suboption "${part}" in -o (see README for the supported ones)`);
      }
    }
  }
}

const USAGE = `cachalot-server — memcached-compatible cache server

  -p, --port=<num>            TCP port to listen on (default: ${DEFAULT_PORT})
  -l, --listen=<addr>         interface to listen on (default: ${DEFAULT_LISTEN})
  -U, --udp-port=<num>        UDP port; only 0 (off) is supported
  -m, --memory-limit=<mb>     item memory in megabytes (default: ${DEFAULT_MEMORY_MB})
  -c, --conn-limit=<num>      max simultaneous connections (default: ${DEFAULT_MAX_CONNECTIONS})
  -t, --threads=<num>         worker threads (default: the CPUs available)
  -I, --max-item-size=<size>  largest item, e.g. 1m, 128m (default: 1m); below 512k with
                              -o slab_chunk_max=<bytes> dividing it, as memcached
  -b, --listen-backlog=<num>  listen backlog (default: ${DEFAULT_BACKLOG})
  -A, --enable-shutdown       allow the "shutdown" command
  -F, --disable-flush-all     refuse flush_all ("CLIENT_ERROR flush_all not allowed")
  -M, --disable-evictions     return an error on memory exhaustion instead of evicting items
  -D <char>                   prefix delimiter for "stats detail" (default: ${DEFAULT_PREFIX_DELIMITER})
  -Y, --auth-file=<file>      require ASCII authentication with the file's user:password lines
  -Z, --enable-ssl            TLS on the cache port (with -o ssl_chain_cert=, ssl_key=, ssl_ca_cert=,
                              ssl_verify_mode=0-3, ssl_min_version=tlsv1.2|tlsv1.3,
                              ssl_handshake_timeout=SECONDS (default 10), and
                              ssl_refresh_on_change: refresh_certs whenever the files change)
  -v, -vv                     verbose logging
  -o, --extended=<k=v,...>    idle_timeout, ext_path=DIR:SIZE, ext_item_size, ext_wbuf_size, ext_threads,
                              ext_wbuf_wait_ms, ext_flush_on_shutdown, metrics_port, shards, ring_purge_rate,
                              slab_chunk_max
      --metrics-port=<num>    HTTP port for /metrics /healthz /readyz (default: ${DEFAULT_METRICS_PORT}, 0 = off)
      --metrics-listen=<addr> interface for the HTTP port (default: 0.0.0.0)
      --ring-file=<file>      follow the ring document (ring.json) in this file, e.g. a mounted ConfigMap
      --ring-configmap=<ns/name>  follow the ring ConfigMap through the Kubernetes API
      --ring-member=<name>    this server's member name in the ring (required with a ring source); once a
                              ring without "previous" is in force, items it does not own are dropped at
                              -o ring_purge_rate=<items/s> (default ${DEFAULT_RING_PURGE_RATE}; 0 = never)
      --ring-poll-ms=<ms>     --ring-file check interval (default ${DEFAULT_RING_POLL_MS})
      --config=<file>         YAML or JSON file with the long option names as keys
      --log-level=<level>     pino level (default: info)
  -h, --help                  this text
  -V, --version               print the version
`;

export type ParseResult = { kind: 'run'; config: ServerConfig } | { kind: 'exit'; text: string };

const SHORT_WITH_VALUE = new Set(['Y', 'p', 'l', 'U', 'm', 'c', 't', 'I', 'b', 'o', 'u', 'P', 'R', 'B', 'f', 'n', 'D', 'a']);
const LONG_NAMES: Record<string, string> = {
  port: 'p', listen: 'l', 'udp-port': 'U', 'memory-limit': 'm', 'conn-limit': 'c', threads: 't',
  'max-item-size': 'I', 'listen-backlog': 'b', 'enable-shutdown': 'A', 'disable-flush-all': 'F',
  'disable-evictions': 'M', extended: 'o', user: 'u',
  'pidfile': 'P', 'auth-file': 'Y', 'enable-ssl': 'Z', 'max-reqs-per-event': 'R', protocol: 'B', help: 'h', version: 'V', verbose: 'v',
};

/** Applies one option (short letter or our own long name) to cfg. */
function applyOption(cfg: ServerConfig, name: string, value: string, display: string): void {
  switch (name) {
    case 'p': cfg.port = intIn(display, value, 0, 65535); break;
    case 'l': if (value.trim() === '') fail(`${display} needs an address`); cfg.listen = value; break;
    case 'U':
      cfg.udpPort = intIn(display, value, 0, 65535);
      if (cfg.udpPort !== 0) fail(`${display}: UDP is not supported; use -U 0`);
      break;
    case 'm': cfg.memoryLimitMb = intIn(display, value, MIN_MEMORY_MB, MAX_MEMORY_MB, ' of megabytes'); break;
    case 'c': cfg.maxConnections = intIn(display, value, 1, 1_000_000); break;
    case 't': cfg.threads = intIn(display, value, 1, MAX_THREADS); break;
    case 'I':
      // Range and slab_chunk_max are checked once every option is in (checkItemSize), as memcached does.
      cfg.maxItemSize = parseSize(display, value, 0, 2 ** 53);
      break;
    case 'b': cfg.backlog = intIn(display, value, 1, 65535); break;
    case 'A': cfg.enableShutdown = true; break;
    case 'F': cfg.disableFlush = true; break;
    case 'M': cfg.noEvict = true; break;
    case 'D':
      // memcached keeps the first character of -D's argument.
      if (value === '') fail(`${display} needs a delimiter character`);
      cfg.prefixDelimiter = value[0]!;
      break;
    case 'v': cfg.verbosity = Math.min(2, cfg.verbosity + 1); break;
    case 'o': applySuboptions(cfg, value); break;
    case 'u': case 'P': case 'R': case 'f': case 'n': case 'a':
      // Accepted for drop-in compatibility with memcached command lines; no effect here.
      cfg.ignoredOptions.push(`-${name} ${value}`);
      break;
    case 'B':
      if (value !== 'ascii' && value !== 'auto') fail(`${display}: only the ascii protocol is supported (got '${value}')`);
      break;
    case 'metrics-port': cfg.metricsPort = intIn(display, value, 0, 65535); break;
    case 'metrics-listen': cfg.metricsListen = value; break;
    case 'log-level':
      if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(value)) {
        fail(`${display} must be one of fatal, error, warn, info, debug, trace, silent (got '${value}')`);
      }
      cfg.logLevel = value;
      break;
    case 'shutdown-timeout': cfg.shutdownTimeout = intIn(display, value, 0, 3600, ' of seconds'); break;
    case 'ring-file':
      if (value.trim() === '') fail(`${display} needs the ring document's path`);
      cfg.ringFile = value;
      break;
    case 'ring-configmap': {
      const ref = parseConfigMapRef(value);
      if (ref === undefined) fail(`${display} must be NAMESPACE/NAME (DNS-1123 names), got '${value}'`);
      cfg.ringConfigMap = ref;
      break;
    }
    case 'ring-member':
      // Any name a ring document can give (a member without a name is called host:port there).
      if (!/^[\x21-\x7e]{1,253}$/.test(value)) fail(`${display} must be a member name of 1 to 253 printable characters without spaces, got '${value}'`);
      cfg.ringMember = value;
      break;
    case 'ring-poll-ms': cfg.ringPollMs = intIn(display, value, 10, 600_000, ' of milliseconds'); break;
    case 'd': fail(`${display}: daemon mode is not supported; run under a supervisor (systemd, Kubernetes)`);
    // falls through (fail never returns)
    case 'Y':
      if (value.trim() === '') fail(`${display} needs the auth file's path`);
      cfg.security.authFile = value;
      break;
    case 'Z': cfg.security.tls = true; break;
    case 'S':
      fail(`${display}: SASL is not supported by cachalot-server; use -Y (ASCII authentication)`);
    // falls through
    case 'C': fail(`${display}: CAS cannot be disabled in cachalot-server`);
    // falls through
    default: fail(`unknown option ${display} (see --help)`);
  }
}

const ENV_OPTIONS: Array<[string, string]> = [
  ['CACHALOT_PORT', 'p'], ['CACHALOT_LISTEN', 'l'], ['CACHALOT_MEMORY_MB', 'm'], ['CACHALOT_CONN_LIMIT', 'c'],
  ['CACHALOT_THREADS', 't'], ['CACHALOT_MAX_ITEM_SIZE', 'I'], ['CACHALOT_EXTENDED', 'o'],
  ['CACHALOT_METRICS_PORT', 'metrics-port'], ['CACHALOT_LOG_LEVEL', 'log-level'],
];

function applyFile(cfg: ServerConfig, file: string): void {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    fail(`--config ${file}: ${(err as Error).message}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) fail(`--config ${file}: expected a mapping of option names to values`);
  for (const [key, raw] of Object.entries(doc as Record<string, unknown>)) {
    const name = LONG_NAMES[key] ?? key;
    const values = Array.isArray(raw) ? raw : [raw];
    for (const v of values) {
      if (typeof v === 'boolean') {
        if (v) applyOption(cfg, name, '', `${key} in ${file}`);
      } else applyOption(cfg, name, String(v), `${key} in ${file}`);
    }
  }
}

export function parseArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): ParseResult {
  const cfg = defaultConfig();
  // Collect command-line options first so that --config and env can be applied underneath them.
  const cli: Array<[string, string, string]> = [];
  let configFile = env.CACHALOT_CONFIG;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const longName = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      if (longName === 'help') return { kind: 'exit', text: USAGE };
      if (longName === 'version') return { kind: 'exit', text: 'cachalot-server 0.1.0 (memcached 1.6.18 protocol)\n' };
      const name = LONG_NAMES[longName] ?? longName;
      const takesValue = SHORT_WITH_VALUE.has(name) || ['metrics-port', 'metrics-listen', 'log-level', 'config', 'shutdown-timeout', 'ring-file', 'ring-configmap', 'ring-member', 'ring-poll-ms'].includes(name);
      let value = '';
      if (takesValue) {
        if (eq >= 0) value = arg.slice(eq + 1);
        else if (i + 1 < argv.length) value = argv[++i];
        else fail(`--${longName} needs a value`);
      }
      if (name === 'config') configFile = value;
      else cli.push([name, value, `--${longName}`]);
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      // Clustered short flags: -vv, -Av, -p11211.
      for (let j = 1; j < arg.length; j++) {
        const ch = arg[j];
        if (ch === 'h') return { kind: 'exit', text: USAGE };
        if (ch === 'V') return { kind: 'exit', text: 'cachalot-server 0.1.0 (memcached 1.6.18 protocol)\n' };
        if (SHORT_WITH_VALUE.has(ch)) {
          let value = arg.slice(j + 1);
          if (value === '') {
            if (i + 1 >= argv.length) fail(`-${ch} needs a value`);
            value = argv[++i];
          }
          cli.push([ch, value, `-${ch}`]);
          break;
        }
        cli.push([ch, '', `-${ch}`]);
      }
      continue;
    }
    fail(`unexpected argument '${arg}' (options start with -; see --help)`);
  }
  if (configFile) applyFile(cfg, configFile);
  for (const [envName, opt] of ENV_OPTIONS) {
    const v = env[envName];
    if (v !== undefined && v !== '') applyOption(cfg, opt, v, envName);
  }
  for (const [name, value, display] of cli) applyOption(cfg, name, value, display);

  checkItemSize(cfg);
  if (cfg.memoryReserveMb !== 0 && cfg.memoryReserveMb < cfg.memoryLimitMb) {
    fail(`-o memory_reserve=${cfg.memoryReserveMb} must be at least -m ${cfg.memoryLimitMb}`);
  }
  if (cfg.ringFile !== undefined && cfg.ringConfigMap !== undefined) {
    fail('--ring-file and --ring-configmap are exclusive: give one ring source');
  }
  const ringSource = cfg.ringFile !== undefined || cfg.ringConfigMap !== undefined;
  if (ringSource && cfg.ringMember === undefined) {
    fail(`${cfg.ringFile !== undefined ? '--ring-file' : '--ring-configmap'} needs --ring-member NAME (this server's name in the ring)`);
  }
  if (!ringSource && cfg.ringMember !== undefined) fail('--ring-member needs a ring source: --ring-file FILE or --ring-configmap NS/NAME');
  const securityProblem = checkSecurity(cfg.security);
  if (securityProblem !== undefined) fail(securityProblem);
  if (cfg.verbosity > 0 && cfg.logLevel === 'info') cfg.logLevel = cfg.verbosity > 1 ? 'trace' : 'debug';
  return { kind: 'run', config: cfg };
}

/**
 * memcached.c's checks of -I against -m and -o slab_chunk_max, in its order and with its texts (each
 * prefixed with the flag it concerns). Without slab_chunk_max the chunk limit is 512 KiB, so -I must be
 * a multiple of 512 KiB; with it, -I 1024 and other small sizes pass as they do in memcached.
 */
function checkItemSize(cfg: ServerConfig): void {
  const item = cfg.maxItemSize;
  if (item < MIN_ITEM_SIZE) fail(`-I ${item}: Item max size cannot be less than 1024 bytes.`);
  if (item > (cfg.memoryLimitMb * 1024 * 1024) / 2) {
    fail(`-I ${item}: Cannot set item size limit higher than 1/2 of memory max (-m ${cfg.memoryLimitMb}).`);
  }
  if (item > MAX_ITEM_SIZE) fail(`-I ${item}: Cannot set item size limit higher than a gigabyte.`);
  const chunk = cfg.slabChunkMax > 0 ? cfg.slabChunkMax : DEFAULT_SLAB_CHUNK_MAX;
  if (chunk > item) fail(`-I: slab_chunk_max (bytes: ${chunk}) cannot be larger than -I (item_size_max ${item})`);
  if (item % chunk !== 0) fail(`-I: -I (item_size_max: ${item}) must be evenly divisible by slab_chunk_max (bytes: ${chunk})`);
  if (SLAB_PAGE_SIZE % chunk !== 0) {
    fail(`-o slab_chunk_max: slab_chunk_max (bytes: ${chunk}) must divide evenly into ${SLAB_PAGE_SIZE} (slab_page_size)`);
  }
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/**
 * Address space for the pool: by default twice -m (at most 4 GiB), so cache_memlimit can raise the limit as
 * memcached's does. Pages are only resident once used, so the reserve costs no memory until then.
 */
export function memoryReserveBytes(config: ServerConfig): number {
  const limit = config.memoryLimitMb * 1024 * 1024;
  if (config.memoryReserveMb > 0) return config.memoryReserveMb * 1024 * 1024;
  return Math.max(limit, Math.min(2 * limit, 4 * 1024 * 1024 * 1024));
}

/** Several shards per thread so two threads rarely contend for one lock (DESIGN.md, Store). */
export function defaultShards(config: ServerConfig): number {
  if (config.shards > 0) return config.shards;
  return Math.min(256, nextPow2(Math.max(4, config.threads * 4)));
}
