/**
 * Socket reads into one reused buffer instead of a new Buffer per read pushed through the Readable stream
 * ('data' events): Node's `onread` option. The sidecar consumes every read synchronously (requests are copied
 * into upstream buffers, replies into client buffers or copied out, incomplete tails stashed), so one buffer
 * serves all its sockets. Upstream connections are client sockets and take the option directly; accepted
 * client sockets have no such option, so they get it as cachalot-server's connections do (net/connection.ts,
 * commit 4a6b792): the symbols of Node's own onread support found on a probe socket, and the handle's
 * useUserBuffer(). When those are not there (another Node version) `readInto` returns false and the caller
 * stays on 'data' events.
 */
import { Socket } from 'node:net';

const SIZE = 64 * 1024;

/** The buffer every sidecar socket reads into; valid only during the read callback. */
export const sharedReadBuffer = Buffer.allocUnsafe(SIZE);

let symbols: { kBuffer: symbol; kBufferCb: symbol } | null | undefined;

/** Makes an accepted socket read into sharedReadBuffer and call `callback(nread, buffer)`; false if unsupported. */
export function readInto(socket: Socket, callback: (n: number, buf: Buffer) => void): boolean {
  if (symbols === undefined) {
    symbols = null;
    // onread is in Node 20's net.Socket options but not in @types/node's SocketConstructorOpts.
    const probe = new Socket({ onread: { buffer: sharedReadBuffer, callback: () => true } } as ConstructorParameters<typeof Socket>[0]);
    const syms = Object.getOwnPropertySymbols(probe);
    const kBuffer = syms.find((sym) => sym.description === 'kBuffer');
    const kBufferCb = syms.find((sym) => sym.description === 'kBufferCb');
    const own = probe as unknown as Record<symbol, unknown>;
    if (kBuffer !== undefined && kBufferCb !== undefined && own[kBuffer] === sharedReadBuffer) symbols = { kBuffer, kBufferCb };
    probe.destroy();
  }
  const handle = (socket as unknown as { _handle?: { useUserBuffer?: (b: Buffer) => void } })._handle;
  if (symbols === null || typeof handle?.useUserBuffer !== 'function') return false;
  const own = socket as unknown as Record<symbol, unknown>;
  own[symbols.kBuffer] = sharedReadBuffer;
  own[symbols.kBufferCb] = callback;
  handle.useUserBuffer(sharedReadBuffer);
  return true;
}
