/**
 * Socket writes straight to the socket's libuv handle, the way Node's own stream_base_commons.js does for
 * net.Socket, but without the Writable stream around it: no per-write state machine, no nextTick and
 * callback after every synchronous write, no write queue in JavaScript. A write the kernel could not take
 * at once stays queued in libuv, which completes queued writes in order: `onDone` is called once per such
 * write, in the order they were made. libuv also orders these writes with any the stream itself makes and
 * with the stream's shutdown (socket.end() after a pending write still sends the write first).
 *
 * Measured (memcaslap, 50 connections, no pipelining, 1:10, 100 B; a minimal server that answers from a
 * constant): 1.66-1.76 µs of user CPU per request through socket.write, 1.25-1.39 µs through the handle.
 *
 * A TLS socket's handle (Node's TLSWrap) takes the same calls: it encrypts the bytes at once and writes the
 * records to the TCP socket. It holds one write at a time (a second one while the first is pending aborts
 * the process: `CHECK(!current_write_)`) and completes every write from an immediate. So on a TLS socket
 * writes are serial: one on the handle, the rest queued here in order, each handed over when the previous
 * one completes, as the Writable stream does (measured on bench/tls.mjs: see net/tls.ts).
 *
 * The handle's methods (writeBuffer, writev) and the WriteWrap request type are Node internals (the
 * `stream_wrap` binding, reachable through the deprecated process.binding()). When they are not there, or
 * not as expected, `SocketWriter.direct` is false and writes go through socket.write(): same contract.
 */
import type { Socket } from 'node:net';
import { handleOf, streamWrap, type StreamWrapBinding } from '../runtime/internals.js';

interface WriteReq {
  handle: unknown;
  oncomplete: (this: WriteReq, status: number) => void;
  async: boolean;
  bytes: number;
  buffer: unknown;
  writer: SocketWriter | null;
}

interface StreamHandle {
  writeBuffer(req: WriteReq, data: Uint8Array): number;
  writev(req: WriteReq, chunks: Uint8Array[], allBuffers: boolean): number;
}


/**
 * A request object no write has been queued with (writes the kernel takes at once never bind theirs to a
 * C++ write request), reused for the next write: a new WriteWrap with its fields costs ~70 ns. One per
 * thread (module state is per worker).
 */
let freeReq: WriteReq | null = null;


/** Completion of an asynchronous handle write; `this` is the request (Node calls it as a method). */
function onWriteComplete(this: WriteReq, status: number): void {
  const writer = this.writer;
  this.writer = null;
  this.buffer = null;
  if (writer !== null) writer.completed(status, this.bytes);
}

export interface WriteDone {
  /**
   * The oldest pending write is no longer needed by the socket (written, or failed: `ok` false, and the
   * socket is being destroyed). Called only for writes that did not complete synchronously.
   */
  (ok: boolean): void;
}

export class SocketWriter {
  /** Writes handed over that the kernel has not taken yet, and their bytes (the socket's writableLength). */
  pending = 0;
  pendingBytes = 0;
  /** Whether writes bypass the Writable stream (false: Node internals missing, or forced for tests). */
  readonly direct: boolean;
  private readonly handle: StreamHandle | null;
  private readonly b: StreamWrapBinding | null;
  /** One write on the handle at a time (TLS): `inflight` while it is there, the next ones in `queued`. */
  private readonly serial: boolean;
  private inflight = false;
  private readonly queued: (Uint8Array | Uint8Array[])[] = [];
  /** end() came while writes were queued: the stream ends once the last one is on the handle. */
  private endQueued = false;

  constructor(private readonly socket: Socket, private readonly onDone: WriteDone, allowDirect = true) {
    const b = allowDirect ? streamWrap() : null;
    const handle = handleOf<StreamHandle>(socket);
    const usable = b !== null && handle != null && typeof handle.writeBuffer === 'function' && typeof handle.writev === 'function';
    this.direct = usable;
    this.b = usable ? b : null;
    this.handle = usable ? (handle as StreamHandle) : null;
    this.serial = (socket as { encrypted?: boolean }).encrypted === true;
  }

  /**
   * Writes `data` (or `chunks`, in order, as one writev). Returns true when the kernel took all of it now:
   * the caller may reuse the memory at once, and `onDone` will not be called for it. Otherwise the memory
   * must stay untouched until its `onDone`.
   */
  write(data: Uint8Array): boolean {
    return this.send(data, null);
  }

  writev(chunks: Uint8Array[]): boolean {
    return this.send(null, chunks);
  }

  private send(data: Uint8Array | null, chunks: Uint8Array[] | null): boolean {
    const socket = this.socket;
    if (socket.destroyed) return true;
    const b = this.b;
    const handle = this.handle;
    if (b === null || handle === null || handleOf(socket) !== handle) {
      return this.viaStream(data, chunks);
    }
    if (this.inflight) {
      // (Only a serial writer sets it.) Pending from now; handed over when the one on the handle completes.
      this.queued.push(chunks ?? data!);
      this.pending++;
      this.pendingBytes += byteLength(data, chunks);
      return false;
    }
    const n = this.handOver(b, handle, data, chunks);
    if (n === 0) return true;
    this.pending++;
    this.pendingBytes += n;
    return false;
  }

  /**
   * One write on the handle: 0 when the kernel took it all at once (or the socket failed and is being
   * destroyed), else its byte count: it completes later, through onWriteComplete.
   */
  private handOver(b: StreamWrapBinding, handle: StreamHandle, data: Uint8Array | null, chunks: Uint8Array[] | null): number {
    const socket = this.socket;
    let req = freeReq;
    freeReq = null;
    if (req === null) {
      req = new b.WriteWrap() as WriteReq;
      req.oncomplete = onWriteComplete;
      req.async = false;
      req.bytes = 0;
      req.buffer = null;
      req.writer = null;
    }
    req.handle = handle;
    const err = chunks === null ? handle.writeBuffer(req, data!) : handle.writev(req, chunks, true);
    // (On Node's side, streamBaseState[kBytesWritten] now says how much of it went out at once.)
    if (err !== 0) {
      // EPIPE, ECONNRESET...: the connection is gone; nothing more will be read from these bytes. (The
      // request may have been bound to a C++ write request before it failed: not reused.)
      socket.destroy();
      return 0;
    }
    if (b.streamBaseState[b.kLastWriteWasAsync] === 0) {
      freeReq = req;
      return 0;
    }
    // libuv (or the TLS layer) still holds the bytes: keep them alive with the request until it completes.
    req.buffer = chunks ?? data;
    req.writer = this;
    req.bytes = byteLength(data, chunks);
    if (this.serial) this.inflight = true;
    return req.bytes;
  }

  /** socket.end() once every write handed to this writer is on the handle (libuv orders it after them). */
  end(): void {
    if (this.queued.length === 0) this.socket.end();
    else this.endQueued = true;
  }

  /** The fallback: socket.write(); a write the stream could not pass on at once completes in its callback. */
  private viaStream(data: Uint8Array | null, chunks: Uint8Array[] | null): boolean {
    const socket = this.socket;
    if (chunks !== null) {
      socket.cork();
      for (let i = 0; i < chunks.length - 1; i++) socket.write(chunks[i]);
      socket.write(chunks[chunks.length - 1], this.streamDone);
      socket.uncork();
    } else {
      socket.write(data!, this.streamDone);
    }
    // The stream calls back every write, a tick later even when it went out at once: per write, in order,
    // the bytes of the ones reported pending, 0 for the ones already reported complete.
    if (socket.writableLength === 0) {
      this.streamWrites.push(0);
      return true;
    }
    const n = byteLength(data, chunks);
    this.streamWrites.push(n);
    this.pending++;
    this.pendingBytes += n;
    return false;
  }

  private readonly streamWrites: number[] = [];

  private readonly streamDone = (err?: Error | null): void => {
    const n = this.streamWrites.shift();
    if (n === undefined || n === 0) return;
    this.completed(err == null ? 0 : -1, n);
  };

  /** @internal a pending write of `bytes` finished with libuv's status (0, or a negative errno). */
  completed(status: number, bytes: number): void {
    this.inflight = false;
    if (this.pending === 0) return;
    this.pending--;
    this.pendingBytes -= bytes;
    if (status < 0 && !this.socket.destroyed) this.socket.destroy();
    // After a destroy Node may still report the write in flight as done: not known to be delivered.
    this.onDone(status >= 0 && !this.socket.destroyed);
    if (this.queued.length > 0 && !this.inflight) this.nextQueued();
  }

  /** Hands queued writes to the handle, oldest first, until one stays there (or the socket is gone). */
  private nextQueued(): void {
    const b = this.b;
    const handle = this.handle;
    while (this.queued.length > 0 && !this.inflight) {
      if (this.socket.destroyed || b === null || handle === null || handleOf(this.socket) !== handle) {
        // Never to be written: the connection learns it from the close (cache/connection.ts dispose()).
        this.queued.length = 0;
        this.pending = 0;
        this.pendingBytes = 0;
        this.endQueued = false;
        return;
      }
      const next = this.queued.shift()!;
      const chunks = Array.isArray(next) ? next : null;
      const data = chunks === null ? next as Uint8Array : null;
      if (this.handOver(b, handle, data, chunks) > 0) break;
      // Taken at once: a pending write that completed.
      this.pending--;
      this.pendingBytes -= byteLength(data, chunks);
      this.onDone(!this.socket.destroyed);
    }
    if (this.queued.length === 0 && this.endQueued) {
      this.endQueued = false;
      this.socket.end();
    }
  }
}

function byteLength(data: Uint8Array | null, chunks: Uint8Array[] | null): number {
  if (chunks === null) return data!.length;
  let n = 0;
  for (const c of chunks) n += c.length;
  return n;
}
