/**
 * cachalot-sidecar's command line. Every option is validated at start with a message that names the flag
 * and its allowed range (STYLE.md rule 7); defaults are the named constants below, twemproxy's where the
 * idea is twemproxy's.
 */
import { SidecarError } from './errors.js';
import { parseConfigMapRef } from '../ring/configmap-ref.js';
import type { EjectedPolicy } from './routing/table.js';
import { checkUpstreamSecurity, upstreamFlagProblem, type UpstreamSecurityOptions } from './upstream/security.js';
import { loadAuthFile } from '../runtime/authfile.js';
import { DEFAULT_HANDSHAKE_TIMEOUT_S, loadServerMaterial, type ServerTlsFiles } from '../net/tls.js';

export const DEFAULT_PORT = 11211;
export const DEFAULT_LISTEN = '127.0.0.1';
/** memcached_exporter's 9150 is the server's; the sidecar sits beside it in the same pod. */
export const DEFAULT_METRICS_PORT = 9151;
export const DEFAULT_CONNECT_TIMEOUT_MS = 500;
export const DEFAULT_REQUEST_TIMEOUT_MS = 1000;
/** twemproxy: server_failure_limit 2, server_retry_timeout 30000 ms. */
export const DEFAULT_FAILURE_LIMIT = 2;
export const DEFAULT_RETRY_TIMEOUT_MS = 30_000;
export const DEFAULT_SERVER_CONNECTIONS = 1;
export const DEFAULT_MAX_ITEM_SIZE = 1024 * 1024;
export const DEFAULT_MAX_CONNECTIONS = 1024;
export const DEFAULT_MAX_IN_FLIGHT = 4096;
export const DEFAULT_OUTPUT_LIMIT = 4 * 1024 * 1024;
export const DEFAULT_RING_POLL_MS = 250;
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 5000;
/** batch.ts: polling after a light turn instead of sleeping; measured there. */
export const DEFAULT_SPIN_US = 100;

export interface SidecarConfig {
  ringFile?: string;
  ringConfigMap?: { namespace: string; name: string };
  port: number;
  listen: string;
  metricsPort: number;
  metricsListen: string;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  failureLimit: number;
  retryTimeoutMs: number;
  serverConnections: number;
  ejected: EjectedPolicy;
  maxItemSize: number;
  maxConnections: number;
  maxInFlight: number;
  outputLimit: number;
  idleTimeout: number;
  ringPollMs: number;
  /** During a ring transition, fill a moved key's miss from its previous owner (--no-transition-fill: off). */
  transitionFill: boolean;
  shutdownTimeoutMs: number;
  spinUs: number;
  /** --spin-us was given (main.ts otherwise turns spinning off under a CPU limit of less than one CPU). */
  spinUsGiven: boolean;
  logLevel: string;
  /** --tls-ca, --tls-cert, --tls-key, --auth-file (upstream/security.ts). */
  upstreamSecurity: UpstreamSecurityOptions;
  /** --listen-auth-file: clients authenticate as to memcached -Y with this file's user:password lines. */
  listenAuthFile?: string;
  /** --listen-tls-cert, --listen-tls-key, --listen-tls-ca: TLS on the listener, as memcached -Z (listentls.ts). */
  listenTls?: ServerTlsFiles;
}

export function defaultConfig(): SidecarConfig {
  return {
    port: DEFAULT_PORT,
    listen: DEFAULT_LISTEN,
    metricsPort: DEFAULT_METRICS_PORT,
    metricsListen: '0.0.0.0',
    connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS,
    requestTimeoutMs: DEFAULT_REQUEST_TIMEOUT_MS,
    failureLimit: DEFAULT_FAILURE_LIMIT,
    retryTimeoutMs: DEFAULT_RETRY_TIMEOUT_MS,
    serverConnections: DEFAULT_SERVER_CONNECTIONS,
    ejected: 'miss',
    maxItemSize: DEFAULT_MAX_ITEM_SIZE,
    maxConnections: DEFAULT_MAX_CONNECTIONS,
    maxInFlight: DEFAULT_MAX_IN_FLIGHT,
    outputLimit: DEFAULT_OUTPUT_LIMIT,
    idleTimeout: 0,
    ringPollMs: DEFAULT_RING_POLL_MS,
    transitionFill: true,
    shutdownTimeoutMs: DEFAULT_SHUTDOWN_TIMEOUT_MS,
    spinUs: DEFAULT_SPIN_US,
    spinUsGiven: false,
    logLevel: 'info',
    upstreamSecurity: {},
  };
}

export const USAGE = `Usage: cachalot-sidecar (--ring-file FILE | --ring-configmap NAMESPACE/NAME) [options]

Ring source (exactly one):
      --ring-file=FILE              ring document (ring.json) from a file, e.g. a mounted ConfigMap; reloaded on change
      --ring-configmap=NS/NAME      watch ConfigMap NAME (key ring.json) in namespace NS through the Kubernetes API
                                    (credentials: in-cluster service account, or KUBECONFIG)
Listening:
  -p, --port=N                      memcached port (default ${DEFAULT_PORT})
  -l, --listen=ADDR                 address to listen on (default ${DEFAULT_LISTEN})
      --metrics-port=N              HTTP port for /metrics /healthz /readyz (default ${DEFAULT_METRICS_PORT}; 0 disables)
      --metrics-listen=ADDR         address for the metrics port (default 0.0.0.0)
  -c, --max-connections=N           client connections (default ${DEFAULT_MAX_CONNECTIONS})
      --idle-timeout=SECONDS        close idle clients (default 0: never)
Upstreams:
      --connect-timeout-ms=N        (default ${DEFAULT_CONNECT_TIMEOUT_MS})
      --request-timeout-ms=N        a client never waits longer for a reply (default ${DEFAULT_REQUEST_TIMEOUT_MS})
      --server-failure-limit=N      consecutive failures that eject a server (default ${DEFAULT_FAILURE_LIMIT})
      --server-retry-timeout-ms=N   how long a server stays ejected before it is probed (default ${DEFAULT_RETRY_TIMEOUT_MS})
      --ejected=miss|next           keys of an ejected server: answered as misses / SERVER_ERROR (miss, default),
                                    or sent to the next member on the ring (next)
      --server-connections=N        pipelined connections per server (default ${DEFAULT_SERVER_CONNECTIONS})
  -I, --max-item-size=SIZE          largest value forwarded, e.g. 1m (default 1m)
      --max-in-flight=N             unanswered requests per client before reading pauses (default ${DEFAULT_MAX_IN_FLIGHT})
Other:
      --ring-poll-ms=N              ring file check interval (default ${DEFAULT_RING_POLL_MS})
      --no-transition-fill          during a ring transition, leave a moved key's miss a miss instead of filling
                                    it from its previous owner (writes still delete it there); for measuring
                                    what the warm-up saves
      --shutdown-timeout-ms=N       SIGTERM: how long to wait for replies already owed (default ${DEFAULT_SHUTDOWN_TIMEOUT_MS})
      --spin-us=N                   after a light event-loop turn, poll up to N µs for more work instead of
                                    sleeping (lower latency, more CPU when lightly loaded; 0 off; default ${DEFAULT_SPIN_US},
                                    or 0 when the container's CPU limit is under one CPU)
      --tls-ca=FILE                 speak TLS to the servers, trusting this CA (PEM); reloaded on change
      --tls-cert=FILE, --tls-key=FILE   client certificate and key for servers that require one (mutual TLS)
      --auth-file=FILE              'user password' sent as memcached's auth set on each new server connection
      --listen-auth-file=FILE       clients must authenticate first, as to memcached -Y FILE (user:password
                                    lines); reloaded on change and on SIGHUP
      --listen-tls-cert=FILE, --listen-tls-key=FILE   serve TLS to clients with this certificate chain and key
                                    (PEM), as memcached -Z; reloaded on change
      --listen-tls-ca=FILE          with TLS, refuse clients without a certificate signed by this CA (mutual
                                    TLS, memcached's ssl_verify_mode=2)
      --log-level=LEVEL             pino level (default info)
  -h, --help                        this text
  -V, --version                     version
`;

export type ParseResult = { kind: 'run'; config: SidecarConfig } | { kind: 'exit'; text: string };

function bad(flag: string, msg: string): never {
  throw new SidecarError('ERR_CONFIG', `${flag}: ${msg}`);
}

function int(flag: string, value: string, min: number, max: number): number {
  if (!/^-?[0-9]+$/.test(value)) bad(flag, `expected an integer in [${min}, ${max}], got '${value}'`);
  const n = Number(value);
  if (n < min || n > max) bad(flag, `must be in [${min}, ${max}], got ${n}`);
  return n;
}

function size(flag: string, value: string): number {
  const m = /^([0-9]+)([kKmM]?)$/.exec(value);
  if (!m) bad(flag, `expected a size such as 1048576, 512k or 1m, got '${value}'`);
  const unit = m[2]!.toLowerCase();
  const n = Number(m[1]) * (unit === 'k' ? 1024 : unit === 'm' ? 1024 * 1024 : 1);
  if (n < 1024 || n > 1024 * 1024 * 1024) bad(flag, `must be between 1k and 1024m, got '${value}'`);
  return n;
}

const SHORT: Record<string, string> = { p: 'port', l: 'listen', c: 'max-connections', I: 'max-item-size', h: 'help', V: 'version' };
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function parseArgs(argv: readonly string[]): ParseResult {
  const cfg = defaultConfig();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    let name: string;
    let value: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      if (eq >= 0) value = arg.slice(eq + 1);
    } else if (arg.startsWith('-') && arg.length >= 2 && SHORT[arg[1]!]) {
      name = SHORT[arg[1]!]!;
      if (arg.length > 2) value = arg.slice(2);
    } else {
      bad(arg, 'unknown argument (see --help)');
    }
    if (name === 'help') return { kind: 'exit', text: USAGE };
    if (name === 'version') return { kind: 'exit', text: 'cachalot-sidecar 0.1.0 (memcached 1.6 text and meta protocol)\n' };
    const flag = `--${name}`;
    const take = (): string => {
      if (value !== undefined) return value;
      const next = argv[++i];
      if (next === undefined) bad(flag, 'needs a value');
      return next;
    };
    switch (name) {
      case 'ring-file': cfg.ringFile = take(); break;
      case 'ring-configmap': {
        const v = take();
        const ref = parseConfigMapRef(v);
        if (ref === undefined) bad(flag, `expected NAMESPACE/NAME (DNS-1123 names), got '${v}'`);
        cfg.ringConfigMap = { namespace: ref.namespace, name: ref.name };
        break;
      }
      case 'port': cfg.port = int(flag, take(), 0, 65535); break;
      case 'listen': cfg.listen = take(); break;
      case 'metrics-port': cfg.metricsPort = int(flag, take(), 0, 65535); break;
      case 'metrics-listen': cfg.metricsListen = take(); break;
      case 'max-connections': cfg.maxConnections = int(flag, take(), 1, 1_000_000); break;
      case 'idle-timeout': cfg.idleTimeout = int(flag, take(), 0, 86400 * 365); break;
      case 'connect-timeout-ms': cfg.connectTimeoutMs = int(flag, take(), 1, 600_000); break;
      case 'request-timeout-ms': cfg.requestTimeoutMs = int(flag, take(), 1, 600_000); break;
      case 'server-failure-limit': cfg.failureLimit = int(flag, take(), 1, 1_000_000); break;
      case 'server-retry-timeout-ms': cfg.retryTimeoutMs = int(flag, take(), 1, 86_400_000); break;
      case 'server-connections': cfg.serverConnections = int(flag, take(), 1, 64); break;
      case 'ejected': {
        const v = take();
        if (v !== 'miss' && v !== 'next') bad(flag, `must be 'miss' or 'next', got '${v}'`);
        cfg.ejected = v;
        break;
      }
      case 'max-item-size': cfg.maxItemSize = size(flag, take()); break;
      case 'max-in-flight': cfg.maxInFlight = int(flag, take(), 1, 1_000_000); break;
      case 'ring-poll-ms': cfg.ringPollMs = int(flag, take(), 10, 600_000); break;
      case 'no-transition-fill':
        if (value !== undefined) bad(flag, `takes no value, got '${value}'`);
        cfg.transitionFill = false;
        break;
      case 'shutdown-timeout-ms': cfg.shutdownTimeoutMs = int(flag, take(), 0, 600_000); break;
      case 'spin-us': cfg.spinUs = int(flag, take(), 0, 10_000); cfg.spinUsGiven = true; break;
      case 'log-level': {
        const v = take();
        if (!LOG_LEVELS.includes(v)) bad(flag, `must be one of ${LOG_LEVELS.join(', ')}, got '${v}'`);
        cfg.logLevel = v;
        break;
      }
      case 'tls-ca': cfg.upstreamSecurity.tlsCa = take(); break;
      case 'tls-cert': cfg.upstreamSecurity.tlsCert = take(); break;
      case 'tls-key': cfg.upstreamSecurity.tlsKey = take(); break;
      case 'auth-file': cfg.upstreamSecurity.authFile = take(); break;
      case 'listen-tls-cert': listenTls(cfg).sslChainCert = take(); break;
      case 'listen-tls-key': listenTls(cfg).sslKey = take(); break;
      case 'listen-tls-ca': listenTls(cfg).sslCaCert = take(); listenTls(cfg).sslVerifyMode = VERIFY_REQUIRE; break;
      case 'listen-auth-file': {
        const v = take();
        if (v === '') bad(flag, "needs the auth file's path");
        cfg.listenAuthFile = v;
        break;
      }
      default: bad(arg, 'unknown option (see --help)');
    }
  }
  if ((cfg.ringFile === undefined) === (cfg.ringConfigMap === undefined)) {
    bad('--ring-file/--ring-configmap', 'exactly one ring source is required');
  }
  const flags = upstreamFlagProblem(cfg.upstreamSecurity);
  if (flags !== undefined) throw new SidecarError('ERR_CONFIG', flags);
  const security = checkUpstreamSecurity(cfg.upstreamSecurity);
  if (security !== undefined) throw new SidecarError('ERR_FILE', security);
  const listenAuth = checkListenAuthFile(cfg.listenAuthFile);
  if (listenAuth !== undefined) throw new SidecarError('ERR_FILE', listenAuth);
  const tls = cfg.listenTls;
  if (tls !== undefined) {
    if (tls.sslChainCert === '') bad('--listen-tls-key', 'needs --listen-tls-cert (the certificate chain)');
    if (tls.sslKey === '') bad('--listen-tls-cert', 'needs --listen-tls-key (its private key)');
    const material = loadServerMaterial(tls, undefined, LISTEN_TLS_FLAGS);
    if (typeof material === 'string') throw new SidecarError('ERR_FILE', material);
  }
  return { kind: 'run', config: cfg };
}

/** memcached's SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT: a client without a certificate is refused. */
const VERIFY_REQUIRE = 2;

/** The sidecar's flag for each listener TLS file, in messages. */
export const LISTEN_TLS_FLAGS = (suboption: 'ssl_chain_cert' | 'ssl_key' | 'ssl_ca_cert'): string =>
  suboption === 'ssl_chain_cert' ? '--listen-tls-cert' : suboption === 'ssl_key' ? '--listen-tls-key' : '--listen-tls-ca';

function listenTls(cfg: SidecarConfig): ServerTlsFiles {
  cfg.listenTls ??= {
    sslChainCert: '', sslKey: '', sslCaCert: '', sslVerifyMode: 0, sslMinVersion: 'tlsv1.2', sslHandshakeTimeout: DEFAULT_HANDSHAKE_TIMEOUT_S,
  };
  return cfg.listenTls;
}

/**
 * The --listen-auth-file problem that stops the sidecar at start, or undefined. cachalot-server's -Y
 * refuses the same files (with exit code 64); an empty file is refused here too, since no client could
 * ever authenticate to the listener.
 */
export function checkListenAuthFile(path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  const table = loadAuthFile(path);
  if (typeof table === 'string') return `--listen-auth-file ${path}: ${table}`;
  if (table.size === 0) return `--listen-auth-file ${path}: the auth file is empty; no client could authenticate`;
  return undefined;
}
