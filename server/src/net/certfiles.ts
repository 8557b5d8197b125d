/**
 * cachalot-server's -o ssl_refresh_on_change and the sidecar's --listen-tls-*: the main thread watches the files and hands every worker the new bytes once
 * they load together, as `refresh_certs` would have loaded them. A Kubernetes Secret volume is swapped
 * whole (its `..data` symlink), but three reads can still straddle a swap; a certificate and a key that do
 * not fit each other are not published, and the next read (the swap done) is.
 */
import { loadServerMaterial, type ServerTlsFiles } from './tls.js';
import { FileWatcher } from '../runtime/filewatch.js';

export interface CertBytes {
  cert: Uint8Array;
  key: Uint8Array;
  /** Present when -o ssl_ca_cert is given. */
  ca?: Uint8Array;
}

export interface CertReloadLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Calls `publish` with the files' bytes after a change that loads; returns the stop function. */
export function watchCertFiles(files: ServerTlsFiles, log: CertReloadLog, publish: (bytes: CertBytes) => void): () => void {
  const paths = [files.sslChainCert, files.sslKey, ...(files.sslCaCert !== '' ? [files.sslCaCert] : [])];
  const watcher = new FileWatcher(paths, (contents) => {
    const byPath = new Map(paths.map((p, i) => [p, contents[i]!]));
    const material = loadServerMaterial(files, (path) => {
      const bytes = byPath.get(path);
      if (bytes === undefined) throw new Error(`${path} is not watched`);
      return bytes;
    });
    if (typeof material === 'string') {
      // Usually a renewal caught half-way; the certificate in use stays until the files load together.
      log.warn({ reason: material }, 'TLS files changed but do not load; the certificate in use stays');
      return;
    }
    log.info({ files: paths }, 'TLS files changed: new connections get the new certificate');
    publish({ cert: material.cert, key: material.key, ...(material.ca !== undefined ? { ca: material.ca } : {}) });
  });
  return () => watcher.close();
}
