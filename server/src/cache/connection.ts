/**
 * One client connection: framing (request lines, data blocks, swallowed blocks), pipelining, and
 * output backpressure. Protocol semantics live in the engine; this module only moves bytes.
 *
 * Reads are processed straight out of the chunk Node hands us when nothing is buffered (the common case:
 * whole requests per read); only a partial request at the end of a chunk is copied into `rbuf`. Replies
 * to every request of a read are written with one socket write.
 */
import type { Socket } from 'node:net';
import { LINE_TOO_LONG, findLine, lineEndBefore } from '../protocol/framing.js';
import type { TextEngine } from './engine/text.js';
import { Session, WANT_CLOSE, WANT_COMMAND, WANT_GET_RESUME, WANT_NREAD, WANT_SWALLOW } from './engine/session.js';
import { C, type Counters } from './metrics/counters.js';
import { consumeBuffered, takeInput, type InputConsumer } from '../net/readbuffer.js';
import { READS_PLACED, READS_UNSUPPORTED, readInto } from '../net/sharedread.js';
import { SocketWriter } from '../net/directwrite.js';
import type { OutBuf } from '../protocol/outbuf.js';
import type { DemotionGate } from './store/tier.js';

export interface ConnectionLimits {
  /** Stop reading from a client while this many reply bytes wait in its socket. */
  outputLimit: number;
  /** A get/gets line may grow past LINE_LIMIT (memcached allows long multi-gets) up to this. */
  maxGetLine: number;
  /** Seconds; 0 disables (memcached's -o idle_timeout). */
  idleTimeout: number;
  /** false: write through socket.write() instead of the socket's handle (directwrite.ts); for tests. */
  directWrites?: boolean;
}

export interface ConnectionOwner {
  engine: TextEngine;
  counters: Counters;
  /** With a flash tier: a data block is not stored while this says wait (flash/backpressure.ts). */
  flashGate?: DemotionGate;
  limits: ConnectionLimits;
  closed(conn: Connection): void;
}

/** The largest reply buffer kept for reuse after its write completes. */
const MAX_SPARE = 4 * 1024 * 1024;

/** Flush the reply buffer mid-batch once it holds this much, so one read can't build a huge reply. */
const OUT_FLUSH_AT = 256 * 1024;

/**
 * Reply bytes one connection may send per read event: past it, the rest of its pipeline waits for the next
 * turn of the event loop (setImmediate), after the other connections' reads. Without it, a pipeline of
 * 16 x 1 MB hits handed 16 MB to the kernel before any other connection was read. Two OUT_FLUSH_AT
 * flushes: small-value pipelines never reach it.
 */
const TURN_BUDGET = 512 * 1024;

export class Connection implements InputConsumer {
  readonly session = new Session();
  // InputConsumer: public so that takeInput() can work on them.
  rbuf: Buffer = Buffer.alloc(0);
  rstart = 0;
  rend = 0;
  private paused = false;
  private closing = false;
  readonly remote: string;
  readonly local: string;

  constructor(readonly socket: Socket, private readonly owner: ConnectionOwner) {
    this.remote = `${socket.remoteAddress}:${socket.remotePort}`;
    this.local = `${socket.localAddress}:${socket.localPort}`;
    socket.setNoDelay(true);
    // A TLS socket takes the same handle paths (net/tls.ts); its writer keeps one write on the handle at a time.
    this.writer = new SocketWriter(socket, this.onWritten, owner.limits.directWrites !== false);
    // Without an idle timeout the socket never gets a timer, and reads may skip Node's onStreamRead.
    const reads = readInto(socket, this.onRead, owner.limits.idleTimeout === 0);
    // A TLS handle decrypts into its reader's buffer: a value's bytes are placed only on plaintext sockets.
    this.placedReads = reads === READS_PLACED && (socket as { encrypted?: boolean }).encrypted !== true;
    if (reads === READS_UNSUPPORTED) socket.on('data', this.onData);
    else if (socket.readableLength > 0) {
      // A TLS socket may hold bytes decrypted with the end of its handshake, before this connection took
      // over its reads: they come first (no read can come before the next tick).
      const early = socket.read() as Buffer | null;
      if (early !== null) process.nextTick(this.onData, early);
    }
    if ((socket as { encrypted?: boolean }).encrypted === true) {
      // At the client's FIN Node would end the stream at once (allowHalfOpen false), ahead of replies still
      // queued in the writer (a TLS socket takes one write at a time): the writer ends it after them.
      socket.allowHalfOpen = true;
      socket.on('end', this.onPeerEnd);
    }
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    this.session.onReadsDone = this.onReadsDone;
    if (owner.limits.idleTimeout > 0) {
      socket.setTimeout(owner.limits.idleTimeout * 1000, this.onIdle);
    }
  }

  get state(): string {
    const want = this.session.want;
    if (this.paused) return 'conn_mwrite';
    if (want === WANT_NREAD) return 'conn_nread';
    if (want === WANT_SWALLOW) return 'conn_swallow';
    return this.rend > this.rstart ? 'conn_parse_cmd' : 'conn_waiting';
  }

  private readonly onData = (chunk: Buffer): void => {
    this.onRead(chunk.length, chunk);
  };

  /**
   * `n` bytes arrived at the start of `chunk` (net/readbuffer.ts takeInput: used in place or stashed), or,
   * when `chunk` is the view intoItem() returned, straight into the value being received. Returns where
   * the next read goes (placed reads only): the rest of that value, or undefined for the shared buffer.
   */
  private readonly onRead = (n: number, chunk: Buffer): Buffer | undefined => {
    this.owner.counters.row[C.bytes_read] += n;
    if (this.closing) return undefined;
    if (this.draining) this.lastData = Date.now();
    this.turnBytes = 0;
    if (chunk === this.placed) {
      this.placed = undefined;
      this.owner.engine.receivedInPlace(this.session, n);
    } else {
      takeInput(this, chunk, n);
      this.flush();
    }
    return this.placedReads ? this.intoItem() : undefined;
  };

  /** Whether the socket's reads can be placed into store memory (net/sharedread.ts READS_PLACED). */
  private readonly placedReads: boolean;
  /** The view the next read lands in (a part of the value being received), if onRead asked for one. */
  private placed: Buffer | undefined = undefined;

  /**
   * The rest of the value being received, when the next bytes from the socket can only be that: no request
   * waits in rbuf and nothing holds reading stopped. memcached reads a data block straight into its item
   * the same way (conn_nread): a 1 MB value costs one copy out of the kernel, in reads as large as the
   * kernel has, instead of a second copy out of the 64 KiB shared buffer, one read callback per 64 KiB.
   */
  private intoItem(): Buffer | undefined {
    this.placed = undefined;
    const s = this.session;
    const view = s.directView;
    if (view === null || s.want !== WANT_NREAD || s.directGot >= view.length || this.rend > this.rstart ||
      this.paused || this.yielded || this.waitingForReads || this.closing) return undefined;
    const got = s.directGot;
    this.placed = Buffer.from(view.buffer, view.byteOffset + got, view.length - got);
    return this.placed;
  }

  /** A data block being received gets room for all of it at once. */
  expecting(): number {
    const s = this.session;
    return s.want === WANT_NREAD && s.directView === null ? s.nreadBytes + 4096 : 0;
  }

  /** Executes every complete request in buf[pos, end); returns the offset of the first unused byte. */
  consume(buf: Buffer, pos: number, end: number): number {
    const s = this.session;
    const engine = this.owner.engine;
    const limits = this.owner.limits;
    while (pos < end && !this.paused && !this.closing && !this.waitingForReads && !this.yielded) {
      if (this.turnBytes >= TURN_BUDGET) {
        this.yieldTurn();
        break;
      }
      const want = s.want;
      if (want === WANT_NREAD) {
        if (s.directView === null && this.owner.flashGate?.mustWait() === true) {
          this.holdForFlash();
          break;
        }
        if (s.directView !== null) {
          pos += engine.receiveDirect(s, buf, pos, end);
        } else if (end - pos >= s.nreadBytes) {
          s.want = WANT_COMMAND;
          engine.completeNread(s, buf, pos);
          pos += s.nreadBytes;
        } else if (engine.beginDirect(s)) {
          // The rest of a large value will go straight into its item as it arrives, not through rbuf.
          pos += engine.receiveDirect(s, buf, pos, end);
        } else break;
      } else if (want === WANT_SWALLOW) {
        const n = Math.min(end - pos, s.swallowBytes);
        pos += n;
        s.swallowBytes -= n;
        if (s.swallowBytes === 0) s.want = WANT_COMMAND;
      } else {
        const nl = findLine(buf, pos, end, limits.maxGetLine);
        if (nl < 0) {
          // No newline in the first 2 KiB and not a long multi-get: memcached drops such clients.
          if (nl === LINE_TOO_LONG) this.close();
          break;
        }
        const lineEnd = lineEndBefore(buf, pos, nl);
        if (want === WANT_GET_RESUME) engine.resumeGet(s, buf, pos, lineEnd);
        else engine.processLine(s, buf, pos, lineEnd);
        if (s.want === WANT_GET_RESUME) {
          // The line stays unconsumed until its last key is answered; send what there is first.
          if (s.pendingReads.length > 0) {
            this.waitingForReads = true;
            this.socket.pause();
          } else {
            this.flush();
          }
          continue;
        }
        pos = nl + 1;
        if (s.want === WANT_CLOSE) {
          this.flush();
          this.close();
          break;
        }
        if (s.closeAfterWrite) {
          this.closing = true;
          if (s.pendingReads.length === 0) this.endWhenWritten();
          break;
        }
      }
      if (s.out.pos + s.out.refBytes >= OUT_FLUSH_AT) {
        // With flash reads in flight nothing can be sent yet: stop taking requests until they land.
        if (s.pendingReads.length > 0) {
          this.waitingForReads = true;
          this.socket.pause();
        } else this.flush();
      }
    }
    return pos;
  }

  /** Reply bytes sent since this turn's read event (see TURN_BUDGET). */
  private turnBytes = 0;
  /** Over TURN_BUDGET: reading stopped, the rest of the pipeline waits in rbuf for continueTurn. */
  private yielded = false;

  private yieldTurn(): void {
    this.yielded = true;
    this.owner.counters.row[C.conn_yields]++;
    this.socket.pause();
    setImmediate(this.continueTurn);
  }

  /**
   * Storing the next data block could evict into a full flash write buffer: reading stops, as for a
   * yielded turn, until the flusher has made room (or its bound ran out); then the turn carries on.
   */
  private holdForFlash(): void {
    this.yielded = true;
    this.socket.pause();
    this.owner.flashGate!.wait(this.continueTurn);
  }

  /** The next turn: carry on with the requests left when the budget ran out, then read again. */
  private readonly continueTurn = (): void => {
    this.yielded = false;
    this.turnBytes = 0;
    if (this.closing || this.socket.destroyed) return;
    if (this.rend > this.rstart) {
      consumeBuffered(this);
      this.flush();
    }
    this.resumeReading();
    this.endIfPeerDone();
  };

  /** Reads again unless something else still holds them stopped. */
  private resumeReading(): void {
    if (this.paused || this.waitingForReads || this.yielded || this.closing) return;
    // Reading restarts with the next poll: what waits in the kernel's receive buffer has not been seen
    // yet, so a draining connection must not count as quiet from before the pause.
    if (this.draining) this.lastData = Date.now();
    this.socket.resume();
  }

  /** Sends the replies gathered so far with one write; pauses reading while the client lags behind. */
  flush(): void {
    const out = this.session.out;
    if (out.pos === 0 || this.socket.destroyed || this.session.pendingReads.length > 0) return;
    const bytes = out.pos + out.refBytes;
    this.owner.counters.row[C.bytes_written] += bytes;
    this.turnBytes += bytes;
    const buf = out.buf;
    const writer = this.writer;
    let pins: number[] | undefined;
    let done: boolean;
    if (out.refView.length > 0) {
      const chunks = this.chunksWithRefs(out);
      pins = out.takePins();
      done = writer.writev(chunks);
    } else {
      done = writer.write(out.filled());
    }
    if (done) {
      // The kernel took it all: the buffer is free again, and so are the values sent from shared memory.
      out.pos = 0;
      if (pins !== undefined) out.releaseRefs(pins);
      return;
    }
    // The socket still holds the bytes: continue in another buffer, and take this one back when its write
    // completes. Reusing buffers matters for large values: a fresh 1 MiB buffer per reply costs its page
    // faults on every copy into it (measured: a third of the CPU at 1 MB gets).
    this.inflightBufs.push(buf);
    this.inflightPins.push(pins);
    out.take(this.spare);
    this.spare = undefined;
    if (writer.pendingBytes >= this.owner.limits.outputLimit && !this.paused) {
      this.paused = true;
      this.owner.counters.row[C.conn_yields]++;
      this.socket.pause();
    }
  }

  /**
   * buf[0, pos) with the refs' views spliced in at their positions, for one writev: header, value straight
   * from shared memory, trailer, and so on.
   */
  private chunksWithRefs(out: OutBuf): Uint8Array[] {
    const buf = out.buf;
    const n = out.refView.length;
    const chunks: Uint8Array[] = [];
    let prev = 0;
    for (let i = 0; i < n; i++) {
      const at = out.refPos[i];
      if (at > prev) chunks.push(buf.subarray(prev, at));
      prev = at;
      chunks.push(out.refView[i]);
    }
    if (out.pos > prev) chunks.push(buf.subarray(prev, out.pos));
    return chunks;
  }

  /** Writes what is gathered, then ends the connection (libuv sends pending writes before the shutdown). */
  private endWhenWritten(): void {
    this.flush();
    this.writer.end();
  }

  private readonly writer: SocketWriter;
  /** Per write still pending, in write order: its buffer and the store pins of the values it sends. */
  private readonly inflightBufs: Buffer[] = [];
  private readonly inflightPins: (number[] | undefined)[] = [];
  private spare: Buffer | undefined;

  /** The oldest pending write completed (ok) or failed (the socket is being destroyed). */
  private readonly onWritten = (ok: boolean): void => {
    const out = this.session.out;
    const pins = this.inflightPins.shift();
    if (pins !== undefined) out.releaseRefs(pins);
    const buf = this.inflightBufs.shift();
    if (!ok || this.socket.destroyed) return;
    if (buf !== undefined && buf.length <= MAX_SPARE) {
      if (out.pos === 0 && out.buf.length < buf.length) {
        // The next large reply would otherwise grow the small buffer `take()` left in place into a fresh
        // allocation (page faults on every byte copied into it: measured 10x slower than a reused buffer
        // for 1 MB values). Put the big one back to work now and keep the small one as the spare.
        this.spare = out.buf;
        out.buf = buf;
      } else if (this.spare === undefined || this.spare.length < buf.length) {
        this.spare = buf;
      }
    }
    // Everything written (the stream's 'drain'): read again.
    if (this.writer.pending === 0 && this.paused && !this.closing) this.resumeAfterOutput();
  };

  /** Every reply is written: read again (and run what was read before the pause). */
  private resumeAfterOutput(): void {
    this.paused = false;
    this.turnBytes = 0;
    if (this.rend > this.rstart) {
      consumeBuffered(this);
      this.flush();
    }
    this.resumeReading();
    this.endIfPeerDone();
  }

  private waitingForReads = false;

  /** The last flash read of the queued replies landed: send them, then carry on with buffered requests. */
  private readonly onReadsDone = (): void => {
    if (this.socket.destroyed) return;
    if (this.session.closeAfterWrite) {
      this.endWhenWritten();
      return;
    }
    if (this.waitingForReads) {
      this.waitingForReads = false;
      this.turnBytes = 0;
      if (this.rend > this.rstart) {
        consumeBuffered(this);
      }
      this.resumeReading();
    }
    this.flush();
    this.endIfPeerDone();
  };

  private readonly onIdle = (): void => {
    // memcached kicks a connection idle between commands: not one in the middle of a data block or a
    // multi-get, nor one whose replies are still being delivered to a slow reader.
    const s = this.session;
    if (s.want !== WANT_COMMAND || this.paused || this.yielded || this.waitingForReads || s.pendingReads.length > 0 ||
      this.writer.pending > 0 || this.rend > this.rstart) return;
    this.owner.counters.row[C.idle_kicks]++;
    this.close();
  };

  private readonly onPeerEnd = (): void => {
    if (this.closing) return;
    this.peerEnded = true;
    this.endIfPeerDone();
  };

  /** The client sent its FIN (TLS only, see the constructor); what it sent before still runs. */
  private peerEnded = false;

  /**
   * After the client's FIN: ends the connection once no request it sent waits in the read buffer behind a
   * yielded turn, a full writer or a flash read (each of those resumes the pipeline, then calls this).
   */
  private endIfPeerDone(): void {
    if (!this.peerEnded || this.closing || this.yielded || this.paused || this.waitingForReads) return;
    this.closing = true;
    this.endWhenWritten();
  }

  private readonly onError = (): void => {
    // ECONNRESET and friends: the close handler does the accounting.
  };

  private readonly onClose = (): void => {
    this.closing = true;
    this.dispose();
    this.owner.closed(this);
  };

  close(): void {
    this.closing = true;
    this.socket.destroy();
  }

  private draining = false;
  private drainTimer: NodeJS.Timeout | undefined;

  /**
   * Graceful shutdown: requests the client already sent (including bytes still in the kernel's receive
   * buffer) are read and answered; once the connection has been quiet for `quietMs` with no partial
   * request and no unsent reply, it is closed. The caller bounds the whole drain with a deadline.
   */
  beginDrain(quietMs: number): void {
    if (this.closing || this.draining) return;
    this.draining = true;
    this.socket.setTimeout(0);
    const check = (): void => {
      if (this.closing) return;
      const idle = this.rend === this.rstart && this.session.want === WANT_COMMAND &&
        this.session.pendingReads.length === 0 &&
        this.writer.pending === 0 && this.lastData + quietMs <= Date.now();
      if (idle) {
        this.closing = true;
        this.socket.end();
        return;
      }
      this.drainTimer = setTimeout(check, quietMs);
    };
    this.drainTimer = setTimeout(check, quietMs);
  }

  /** Last time bytes arrived (only tracked while draining). */
  private lastData = 0;

  dispose(): void {
    if (this.drainTimer) clearTimeout(this.drainTimer);
    // A value that was arriving straight into its item: never linked, its segment unpinned.
    this.owner.engine.abandon(this.session);
    // The socket is closed: libuv has cancelled its writes, nothing reads the pinned bytes any more.
    // (Write callbacks that still come find the queues empty.)
    const out = this.session.out;
    for (const pins of this.inflightPins.splice(0)) if (pins !== undefined) out.releaseRefs(pins);
    this.inflightBufs.length = 0;
    out.reset();
  }
}
