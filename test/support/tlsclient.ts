// TLS connections for tests: a RawClient over a TLS socket once its handshake is done, or what went wrong.
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { RawClient } from './rawclient.js';

export interface TlsClientFiles {
  ca: string;
  cert?: string;
  key?: string;
}

export interface TlsConnected {
  client: RawClient;
  socket: tls.TLSSocket;
}

/** Connects to 127.0.0.1:port over TLS; rejects with the handshake's error (or a timeout naming the port). */
export function connectTls(port: number, files: TlsClientFiles, timeoutMs = 5_000): Promise<TlsConnected> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: '127.0.0.1', port, ca: readFileSync(files.ca),
      ...(files.cert !== undefined ? { cert: readFileSync(files.cert) } : {}),
      ...(files.key !== undefined ? { key: readFileSync(files.key) } : {}),
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`TLS connect to 127.0.0.1:${port} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve({ client: RawClient.over(socket), socket });
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** The common name of the certificate a TLS connection was served. */
export function servedName(socket: tls.TLSSocket): string {
  const subject = socket.getPeerCertificate().subject as unknown as Record<string, string> | undefined;
  return subject?.CN ?? '';
}
