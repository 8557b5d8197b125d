/**
 * What auth and TLS add to a server pod: memcached's own flags (-Y, -Z, -o ssl_*) and the Secrets they read.
 *
 * The Secrets are mounted as whole secret volumes, never through subPath: the kubelet swaps a secret volume's
 * files atomically when the Secret changes (a subPath mount would keep the old file forever), and the server
 * re-reads the auth file (always) and the certificate (-o ssl_refresh_on_change) when they change. So nothing about the Secrets' contents goes into
 * the pod template (no checksum annotation): a credential rotation or a certificate renewal never restarts a
 * server, which would cost its RAM tier.
 */
import { AUTH_SECRET_KEY, type CacheCluster, type KubeFields, type ResolvedSpec } from '../api/types.js';

export const AUTH_VOLUME = 'auth';
export const TLS_VOLUME = 'tls';
export const AUTH_DIR = '/etc/cachalot/auth';
export const TLS_DIR = '/etc/cachalot/tls';
/** memcached's SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT: a client without a certificate is refused. */
export const SSL_VERIFY_REQUIRE = 2;
/** Read by the owner (root) and the pod's fsGroup (the server's gid), nobody else: the files hold passwords and
 * a private key. */
const SECRET_MODE = 0o440;

/** The Secret the servers read their certificate from: the user's, or the one the Certificate writes. */
export function tlsSecretName(cc: CacheCluster): string | undefined {
  const tls = cc.spec.tls;
  if (!tls) return undefined;
  return tls.secretName ?? certificateName(cc);
}

/** The cert-manager Certificate for spec.tls.certManager, and the Secret it writes, share this name. */
export function certificateName(cc: CacheCluster): string {
  return `${cc.metadata.name}-tls`;
}

/** -Y and -Z with their files, in memcached's syntax. */
export function securityArgs(spec: ResolvedSpec): string[] {
  const args: string[] = [];
  if (spec.auth) args.push('-Y', `${AUTH_DIR}/${AUTH_SECRET_KEY}`);
  if (spec.tls) {
    const opts = [`ssl_chain_cert=${TLS_DIR}/tls.crt`, `ssl_key=${TLS_DIR}/tls.key`];
    if (spec.tls.clientAuth) opts.push(`ssl_ca_cert=${TLS_DIR}/ca.crt`, `ssl_verify_mode=${SSL_VERIFY_REQUIRE}`);
    // A renewal rewrites the mounted files and nobody sends refresh_certs: the server reloads them itself.
    opts.push('ssl_refresh_on_change');
    args.push('-Z', '-o', opts.join(','));
  }
  return args;
}

export function securityVolumes(cc: CacheCluster, spec: ResolvedSpec): KubeFields[] {
  return [...authVolumes(cc), ...tlsVolumes(cc)];
}

/** The auth Secret as a whole secret volume (none without spec.auth); the router mounts the same one. */
export function authVolumes(cc: CacheCluster): KubeFields[] {
  const auth = cc.spec.auth;
  return auth ? [{ name: AUTH_VOLUME, secret: { secretName: auth.secretName, defaultMode: SECRET_MODE } }] : [];
}

/** The TLS Secret as a whole secret volume (none without spec.tls); the router mounts the same one. */
export function tlsVolumes(cc: CacheCluster): KubeFields[] {
  const tls = tlsSecretName(cc);
  return tls ? [{ name: TLS_VOLUME, secret: { secretName: tls, defaultMode: SECRET_MODE } }] : [];
}

export function securityMounts(spec: ResolvedSpec): KubeFields[] {
  return [
    ...(spec.auth ? [{ name: AUTH_VOLUME, mountPath: AUTH_DIR, readOnly: true }] : []),
    ...(spec.tls ? [{ name: TLS_VOLUME, mountPath: TLS_DIR, readOnly: true }] : []),
  ];
}
