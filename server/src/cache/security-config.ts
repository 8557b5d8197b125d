/**
 * The security flags of cachalot-server, as memcached 1.6 spells them: `-Y FILE` (ASCII authentication),
 * `-Z` (TLS) and the `-o ssl_*` suboptions. Parsing here; the files themselves are checked at start by
 * `checkSecurity` so that a missing or unreadable file, or a key that does not match its certificate, stops
 * the server with a message naming the flag (memcached exits with EX_USAGE for these too).
 */
import { readFileSync } from 'node:fs';
import { AuthTable } from '../protocol/asciiauth.js';
import type { CertBytes } from '../net/certfiles.js';
import { DEFAULT_HANDSHAKE_TIMEOUT_S, loadServerMaterial, MAX_HANDSHAKE_TIMEOUT_S, TLS_MIN_VERSIONS } from '../net/tls.js';

/** memcached's ssl_verify_mode values: SSL_VERIFY_NONE, _PEER, _PEER|_FAIL_IF_NO_PEER_CERT, _PEER|_CLIENT_ONCE. */
export const VERIFY_NONE = 0;
export const VERIFY_REQUEST = 1;
export const VERIFY_REQUIRE = 2;
export const VERIFY_ONCE = 3;


export interface SecurityConfig {
  /** -Y: the auth file ('' = no authentication). */
  authFile: string;
  /** -Z */
  tls: boolean;
  sslChainCert: string;
  sslKey: string;
  sslCaCert: string;
  sslVerifyMode: number;
  /** memcached's name: tlsv1.0 .. tlsv1.3 (default tlsv1.2, as memcached). */
  sslMinVersion: string;
  /**
   * -o ssl_refresh_on_change: reload the three files whenever their content changes, as `refresh_certs` does
   * (memcached reloads them on that command only). For certificates mounted from a Kubernetes Secret, which
   * a renewal replaces with nobody to send the command.
   */
  sslRefreshOnChange: boolean;
  /** Seconds a TLS handshake may take (cachalot's own suboption: memcached waits forever). */
  sslHandshakeTimeout: number;
  /** The ssl_* suboptions given, to refuse them without -Z. */
  sslOptionsGiven: string[];
}

export function defaultSecurity(): SecurityConfig {
  return {
    authFile: '', tls: false, sslChainCert: '', sslKey: '', sslCaCert: '', sslVerifyMode: VERIFY_NONE,
    sslMinVersion: 'tlsv1.2', sslRefreshOnChange: false, sslHandshakeTimeout: DEFAULT_HANDSHAKE_TIMEOUT_S, sslOptionsGiven: [],
  };
}

/**
 * Applies one -o suboption if it is a security one: true when taken, a string when its value is bad (the
 * message), false when the key is not a security suboption.
 */
export function applySecuritySuboption(sec: SecurityConfig, key: string, value: string): boolean | string {
  switch (key) {
    case 'ssl_chain_cert': sec.sslChainCert = value; break;
    case 'ssl_key': sec.sslKey = value; break;
    case 'ssl_ca_cert': sec.sslCaCert = value; break;
    case 'ssl_verify_mode':
      if (!/^[0-3]$/.test(value)) return `-o ssl_verify_mode must be 0 (none), 1 (request), 2 (require) or 3 (once) (got '${value}')`;
      sec.sslVerifyMode = Number(value);
      break;
    case 'ssl_min_version':
      if (TLS_MIN_VERSIONS[value] === undefined) return `-o ssl_min_version must be one of tlsv1.0, tlsv1.1, tlsv1.2, tlsv1.3 (got '${value}')`;
      sec.sslMinVersion = value;
      break;
    case 'ssl_refresh_on_change':
      if (value !== '') return `-o ssl_refresh_on_change takes no value (got '${value}')`;
      sec.sslRefreshOnChange = true;
      break;
    case 'ssl_handshake_timeout':
      if (!/^[0-9]{1,4}$/.test(value) || Number(value) < 1 || Number(value) > MAX_HANDSHAKE_TIMEOUT_S) {
        return `-o ssl_handshake_timeout must be whole seconds from 1 to ${MAX_HANDSHAKE_TIMEOUT_S} (got '${value}')`;
      }
      sec.sslHandshakeTimeout = Number(value);
      break;
    case 'ssl_keyformat':
      // memcached's default (SSL_FILETYPE_PEM) is the only format here.
      if (value !== '1') return `-o ssl_keyformat: only 1 (PEM) is supported (got '${value}')`;
      break;
    case 'ssl_session_cache': case 'ssl_kernel_tls': case 'ssl_wbuf_size': case 'ssl_ciphers':
      return `-o ${key} is not supported by cachalot-server (Node's TLS sets its own ciphers and buffers)`;
    default:
      return false;
  }
  sec.sslOptionsGiven.push(key);
  return true;
}

/**
 * Checks the combination and the files at start; returns the message of the first problem, or undefined.
 * Reading the files here (not only when a worker starts) gives the operator one clear exit code 64.
 */
export function checkSecurity(sec: SecurityConfig): string | undefined {
  const flags = tlsFlagProblem(sec);
  // The auth file's problem comes first; the TLS files are read only when the flags name them all.
  const files = readSecurityBytes(flags === undefined ? sec : { ...sec, tls: false });
  return typeof files === 'string' ? files : flags;
}

/** A combination of the TLS flags that cannot work, whatever the files hold. */
function tlsFlagProblem(sec: SecurityConfig): string | undefined {
  if (!sec.tls) {
    return sec.sslOptionsGiven.length > 0 ? `-o ${sec.sslOptionsGiven[0]} needs -Z (TLS is off)` : undefined;
  }
  if (sec.sslChainCert === '') return '-Z needs -o ssl_chain_cert=FILE (the server certificate chain, PEM)';
  if (sec.sslKey === '') return '-Z needs -o ssl_key=FILE (the server private key, PEM)';
  if (sec.sslVerifyMode === VERIFY_REQUIRE && sec.sslCaCert === '') {
    return '-o ssl_verify_mode=2 needs -o ssl_ca_cert=FILE (the CA that signs client certificates)';
  }
  return undefined;
}

/** The security files' bytes as the main thread read and checked them: what every worker starts from. */
export interface SecurityBytes {
  auth?: Uint8Array;
  certs?: CertBytes;
  /** The refresh_certs generation (net/tls.ts) when `certs` were read: 0 at start. */
  certsGeneration?: number;
}

/**
 * Reads each security file once and checks those very bytes. Workers start from them rather than reading
 * the files themselves: a worker reading a certificate and key pair while they are being replaced would
 * see a mismatched pair and stop the whole process (seen with -t 2, a test swapping the files at start).
 */
export function readSecurityBytes(sec: SecurityConfig): SecurityBytes | string {
  const out: SecurityBytes = {};
  try {
    if (sec.authFile !== '') {
      const bytes = readFileSync(sec.authFile);
      const table = AuthTable.parse(bytes);
      if (typeof table === 'string') return `-Y ${sec.authFile}: the auth file ${table}`;
      out.auth = bytes;
    }
  } catch (err) {
    return `-Y ${sec.authFile}: cannot read the auth file: ${(err as Error).message}`;
  }
  if (!sec.tls) return out;
  const read = new Map<string, Buffer>();
  const material = loadServerMaterial(sec, (path) => {
    const b = readFileSync(path);
    read.set(path, b);
    return b;
  });
  if (typeof material === 'string') return material;
  out.certs = { cert: read.get(sec.sslChainCert)!, key: read.get(sec.sslKey)!, ...(sec.sslCaCert !== '' ? { ca: read.get(sec.sslCaCert)! } : {}) };
  return out;
}
