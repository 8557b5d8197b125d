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

/**
 * A TLS socket once its handshake is done; rejects with the handshake's error, or after `timeoutMs` with
 * an error naming `what`.
 */
export function handshakeTls(options: tls.ConnectionOptions, what: string, timeoutMs = 5_000): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(options);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`TLS connect to ${what} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** Connects to 127.0.0.1:port over TLS; rejects with the handshake's error (or a timeout naming the port). */
export async function connectTls(port: number, files: TlsClientFiles, timeoutMs = 5_000): Promise<TlsConnected> {
  const socket = await handshakeTls({
    host: '127.0.0.1', port, ca: readFileSync(files.ca),
    ...(files.cert !== undefined ? { cert: readFileSync(files.cert) } : {}),
    ...(files.key !== undefined ? { key: readFileSync(files.key) } : {}),
  }, `127.0.0.1:${port}`, timeoutMs);
  return { client: RawClient.over(socket), socket };
}

/** The common name of the certificate a TLS connection was served. */
export function servedName(socket: tls.TLSSocket): string {
  const subject = socket.getPeerCertificate().subject as unknown as Record<string, string> | undefined;
  return subject?.CN ?? '';
}
