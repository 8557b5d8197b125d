/**
 * Every use of Node internals, in one place, each with its fallback: a caller that gets null (or false)
 * takes Node's public path instead, so a Node release that changes these loses speed, not correctness.
 *
 * - the `stream_wrap` binding (WriteWrap, streamBaseState): net/directwrite.ts, net/sharedread.ts
 * - a socket's or server's libuv handle (`_handle`): direct writes, user-buffer reads, the listening fd
 * - the symbols of Node's `onread` support, found on a probe socket: net/sharedread.ts
 */
import { Socket, type Server } from 'node:net';

/**
 * Node's internal `stream_wrap` binding (reachable through the deprecated process.binding()), loaded once
 * per thread: the WriteWrap request type and the shared state words that net/directwrite.ts (writes on the
 * socket handle) and net/sharedread.ts (the handle's read callback) use as Node's own stream_base_commons
 * does. null when it is missing or not as expected: both then fall back to Node's public paths.
 */
export interface StreamWrapBinding {
  /** A socket write request; its fields are set by the caller (directwrite.ts WriteReq). */
  WriteWrap: new () => object;
  streamBaseState: Int32Array;
  kLastWriteWasAsync: number;
  kReadBytesOrError: number;
}

let binding: StreamWrapBinding | null | undefined;

export function streamWrap(): StreamWrapBinding | null {
  if (binding !== undefined) return binding;
  binding = null;
  try {
    const b = (process as unknown as { binding(name: string): Partial<StreamWrapBinding> }).binding('stream_wrap');
    // (isView, not instanceof: under jest the test's realm has its own Int32Array.)
    if (typeof b.WriteWrap === 'function' && ArrayBuffer.isView(b.streamBaseState) &&
      typeof b.kLastWriteWasAsync === 'number' && typeof b.kReadBytesOrError === 'number') {
      binding = b as StreamWrapBinding;
    }
  } catch {
    // Not available in this Node.
  }
  return binding;
}

/** The libuv handle behind a socket or server (Node's `_handle`), or null when there is none (closed). */
export function handleOf<T extends object>(s: Socket | Server): Partial<T> | null {
  return (s as unknown as { _handle?: Partial<T> | null })._handle ?? null;
}

/** The listening socket's file descriptor, or undefined where the handle does not expose it. */
export function listeningFd(server: Server): number | undefined {
  const fd = handleOf<{ fd: number }>(server)?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/** The private symbols under which a net.Socket keeps its `onread` buffer and callback. */
export interface OnreadSymbols {
  kBuffer: symbol;
  kBufferCb: symbol;
}

let onread: OnreadSymbols | null | undefined;

/**
 * Found once per thread on a probe socket made with the public `onread` option (accepted sockets cannot be
 * given that option, so readers set these on them). null when this Node keeps them elsewhere.
 */
export function onreadSymbols(buffer: Buffer): OnreadSymbols | null {
  if (onread !== undefined) return onread;
  onread = null;
  // onread is in Node 20's net.Socket options but not in @types/node's SocketConstructorOpts.
  const probe = new Socket({ onread: { buffer, callback: () => true } } as ConstructorParameters<typeof Socket>[0]);
  const syms = Object.getOwnPropertySymbols(probe);
  const kBuffer = syms.find((sym) => sym.description === 'kBuffer');
  const kBufferCb = syms.find((sym) => sym.description === 'kBufferCb');
  const own = probe as unknown as Record<symbol, unknown>;
  if (kBuffer !== undefined && kBufferCb !== undefined && own[kBuffer] === buffer) onread = { kBuffer, kBufferCb };
  probe.destroy();
  return onread;
}
