/**
 * One application connection to the sidecar: framing (lines, data blocks, swallowed values), the reply
 * order, and backpressure both ways. Every request becomes a Slot queued here; replies are written strictly in
 * slot order, as the memcached the client thinks it talks to would. Reading stops while the client has too
 * many requests in flight or does not read its replies, so one client cannot queue unbounded work.
 */
import type { Socket } from 'node:net';
import { OutBuf } from '../../protocol/outbuf.js';
import { mark, markNextTurn, type Flushable } from '../batch.js';
import { appendBytes } from '../copy.js';
import { LINE_TOO_LONG, NEED_MORE, type DispatchClient, type Dispatcher } from '../routing/dispatch.js';
import { END, Slot, type SlotOwner } from '../request.js';
import { consumeBuffered, takeInput, type InputConsumer } from '../../net/readbuffer.js';
import { tick } from '../eventclock.js';
import { readInto } from '../../net/sharedread.js';
import { findLine, lineEndBefore } from '../../protocol/framing.js';
import { AUTH_FAILURE, AUTH_NOT_A_SET, AUTH_STORED, AUTH_TOO_LARGE, AUTH_UNAUTHENTICATED,
  type AuthGate } from '../../protocol/asciiauth.js';

export interface ClientLimits {
  /** Stop reading while this many reply bytes wait in the client's socket. */
  outputLimit: number;
  /** Stop reading while this many requests are unanswered. */
  maxInFlight: number;
  /** A get line may be longer than LINE_LIMIT (many keys), up to this. */
  maxGetLine: number;
  /** Seconds without input before the connection is closed; 0 never. */
  idleTimeout: number;
}

export interface ClientOwner {
  readonly dispatcher: Dispatcher;
  readonly limits: ClientLimits;
  /** --listen-auth-file: memcached's ASCII authentication before any request is served (undefined: none). */
  readonly listenAuth: AuthGate | undefined;
  clientClosed(c: ClientConn): void;
}

const WANT_COMMAND = 0;
const WANT_SWALLOW = 1;

/** Replies larger than this, or past HELD_LIMIT held bytes, are kept as their own copies instead (request.ts). */
const HELD_REPLY_MAX = 16 * 1024;
const HELD_LIMIT = 256 * 1024;
const HELD_INITIAL = 4 * 1024;

/** A draining connection that received nothing for this long has nothing more in flight from its client. */
const DRAIN_QUIET_MS = 50;

export class ClientConn implements DispatchClient, SlotOwner, Flushable, InputConsumer {
  marked = false;
  private readonly out = new OutBuf();
  /**
   * Replies that arrived before the slots ahead of them were answered (takeReply), at the slot's [heldStart,
   * heldEnd); emptied whenever no slot holds bytes here. Instead of a Buffer per such reply, which perf
   * showed at ~5% of the sidecar at depth 16 over three servers (Buffer.from and its view).
   */
  private held: OutBuf | null = null;
  private heldSlots = 0;
  /** Requests in reply order: the oldest unanswered at `head`, the next free place at `tail` (upstream/connection.ts's queue). */
  private slots: Array<Slot | null> = [];
  private head = 0;
  private tail = 0;
  // InputConsumer: public so that takeInput() can work on them.
  rbuf: Buffer = Buffer.alloc(0);
  rstart = 0;
  rend = 0;
  private want = WANT_COMMAND;
  private swallowBytes = 0;
  private paused = false;
  private closing = false;
  private quitting = false;
  /** Close once every queued reply is written (quit). */
  private endAfterReplies = false;
  /** Without --listen-auth-file, from the start; with it, after the auth `set` was answered STORED. */
  private authenticated: boolean;
  /** Before authenticating: the bytes of the auth `set`'s data block awaited (its length + 2), or 0. */
  private authBlock = 0;

  constructor(readonly socket: Socket, private readonly owner: ClientOwner, readonly affinity: number) {
    this.authenticated = owner.listenAuth === undefined;
    socket.setNoDelay(true);
    if (!readInto(socket, this.onRead)) socket.on('data', this.onData);
    socket.on('drain', this.onDrain);
    socket.on('error', () => {});
    socket.on('close', this.onClose);
    if (owner.limits.idleTimeout > 0) socket.setTimeout(owner.limits.idleTimeout * 1000, () => this.closeNow());
  }

  get inFlight(): number {
    return this.tail - this.head;
  }

  // ------------------------------------------------------------ DispatchClient

  push(slot: Slot): void {
    slot.owner = this;
    this.slots[this.tail++] = slot;
  }

  local(bytes: Buffer | null): void {
    if (this.head === this.tail) {
      // Nothing waiting ahead of it: straight into the reply buffer, no slot.
      if (bytes !== null) appendBytes(this.out, bytes, 0, bytes.length);
      mark(this);
      return;
    }
    this.slots[this.tail++] = Slot.local(this, bytes);
  }

  swallow(n: number): void {
    this.want = WANT_SWALLOW;
    this.swallowBytes = n;
  }

  quit(): void {
    this.quitting = true;
    this.endAfterReplies = true;
    mark(this);
  }

  closeNow(): void {
    this.closing = true;
    this.socket.destroy();
  }

  // ------------------------------------------------------------ SlotOwner

  slotDone(slot: Slot): void {
    if (this.slots[this.head] === slot) mark(this);
  }

  takeReply(slot: Slot, buf: Buffer, start: number, end: number, withEnd: boolean): boolean {
    if (this.closing) return false;
    if (this.slots[this.head] === slot) {
      appendBytes(this.out, buf, start, end);
      if (withEnd) appendBytes(this.out, END, 0, END.length);
      slot.takenByOwner(0, 0);
      this.slots[this.head++] = null;
      if (this.head === this.tail) this.head = this.tail = 0;
      mark(this);
      return true;
    }
    // Behind a slot still waiting (usually for another server): held here until flush() reaches it.
    if (end - start > HELD_REPLY_MAX) return false;
    let held = this.held;
    if (held === null) held = this.held = new OutBuf(HELD_INITIAL);
    else if (held.pos + (end - start) > HELD_LIMIT) return false;
    const heldStart = held.pos;
    appendBytes(held, buf, start, end);
    if (withEnd) appendBytes(held, END, 0, END.length);
    slot.takenByOwner(heldStart, held.pos);
    this.heldSlots++;
    return true;
  }

  // ------------------------------------------------------------ input

  private readonly onData = (chunk: Buffer): void => {
    this.onRead(chunk.length, chunk);
  };

  /** buf[0, n) was read (a 'data' chunk, or the shared read buffer, reused after this returns). */
  private readonly onRead = (n: number, chunk: Buffer): void => {
    if (this.closing || this.quitting) return;
    if (this.draining) this.lastData = Date.now();
    takeInput(this, chunk, n);
    this.checkBackpressure();
  };

  expecting(): number {
    return this.authBlock;
  }

  /** Dispatches every complete request in buf[pos, end); returns the offset of the first unused byte. */
  consume(buf: Buffer, pos: number, end: number): number {
    const dispatcher = this.owner.dispatcher;
    const limits = this.owner.limits;
    tick();
    while (pos < end && !this.paused && !this.closing && !this.quitting) {
      if (this.want === WANT_SWALLOW) {
        const n = Math.min(end - pos, this.swallowBytes);
        pos += n;
        this.swallowBytes -= n;
        if (this.swallowBytes === 0) this.want = WANT_COMMAND;
        continue;
      }
      if (!this.authenticated) {
        const next = this.unauthenticated(buf, pos, end);
        if (next < 0) break;
        pos = next;
        continue;
      }
      const next = dispatcher.dispatch(this, buf, pos, end, limits.maxGetLine);
      if (next < 0) {
        if (next === LINE_TOO_LONG) this.closeNow();
        break;
      }
      pos = next;
      if (this.inFlight >= limits.maxInFlight) this.pause();
    }
    return pos;
  }

  /**
   * One request of a client that has not authenticated (protocol/asciiauth.ts, as cachalot-server's -Y):
   * returns the offset after it, or -1 when it has not all arrived (or the connection was closed). Nothing
   * is forwarded before authentication, so no slot is queued and each reply goes out in order.
   */
  private unauthenticated(buf: Buffer, pos: number, end: number): number {
    const gate = this.owner.listenAuth!;
    if (this.authBlock > 0) {
      // memcached waits for the whole block in its read buffer; AUTH_MAX_BLOCK bounds it.
      if (end - pos < this.authBlock) return -1;
      const answer = gate.block(buf, pos, this.authBlock);
      pos += this.authBlock;
      this.authBlock = 0;
      if (answer === AUTH_STORED) this.authenticated = true;
      this.localLine(answer);
      return pos;
    }
    // memcached closes a pre-auth client that sent 2 KiB without a newline, get lines included.
    const nl = findLine(buf, pos, end, 0);
    if (nl === NEED_MORE) return -1;
    if (nl === LINE_TOO_LONG) {
      this.closeNow();
      return -1;
    }
    const got = gate.line(buf, pos, lineEndBefore(buf, pos, nl));
    if (got === AUTH_NOT_A_SET) {
      this.localLine(AUTH_UNAUTHENTICATED);
    } else if (got === AUTH_TOO_LARGE) {
      this.localLine(AUTH_FAILURE);
      this.swallow(gate.blockBytes);
    } else {
      this.authBlock = got;
    }
    return nl + 1;
  }

  private localLine(text: string): void {
    this.local(Buffer.from(`${text}\r\n`, 'latin1'));
  }

  private pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket.pause();
  }

  private checkBackpressure(): void {
    if (this.socket.writableLength >= this.owner.limits.outputLimit) this.pause();
  }

  private resumeIfPossible(): void {
    if (!this.paused || this.closing) return;
    if (this.inFlight > this.owner.limits.maxInFlight >> 1) return;
    if (this.socket.writableLength >= this.owner.limits.outputLimit) return;
    this.paused = false;
    // A paused socket reading into the shared buffer leaves new data in the kernel until resumed: a drain
    // must not take the time before the next read for quiet.
    if (this.draining) this.lastData = Date.now();
    if (this.rend > this.rstart) consumeBuffered(this);
    if (!this.paused && !this.closing) this.socket.resume();
  }

  private readonly onDrain = (): void => {
    this.resumeIfPossible();
  };

  // ------------------------------------------------------------ output

  /** Moves every finished slot at the head of the queue into the reply buffer and writes it. */
  flush(): void {
    if (this.closing) return;
    const slots = this.slots;
    const out = this.out;
    const tail = this.tail;
    let i = this.head;
    for (; i < tail; i++) {
      const slot = slots[i]!;
      if (!slot.done) break;
      if (slot.heldEnd !== 0) {
        const held = this.held!;
        appendBytes(out, held.buf, slot.heldStart, slot.heldEnd);
        if (--this.heldSlots === 0) held.pos = 0;
      } else {
        const bytes = slot.out;
        if (bytes !== null) appendBytes(out, bytes, 0, bytes.length);
      }
      slots[i] = null;
    }
    if (i === tail) {
      this.head = this.tail = 0;
    } else if (i > 1024) {
      slots.copyWithin(0, i, tail);
      slots.fill(null, tail - i, tail);
      this.tail = tail - i;
      this.head = 0;
    } else this.head = i;
    if (i < tail && out.pos > 0 && !this.deferred) {
      // Part of a pipelined batch is answered and the rest is not: its replies usually come from another
      // server in the same poll phase or the next, so wait one turn and send both in one write (bench: 1.55
      // writes per 16-request batch otherwise, at about 10 µs of CPU per write on loopback).
      this.deferred = true;
      markNextTurn(this);
      return;
    }
    this.deferred = false;
    if (out.pos > 0 && !this.socket.destroyed) {
      this.socket.write(out.filled());
      if (this.socket.writableLength === 0) out.pos = 0;
      else out.take(undefined);
    }
    if (this.endAfterReplies && this.head === this.tail) {
      // Close once the replies are written, without waiting for the client to close its side.
      this.closing = true;
      this.socket.destroySoon();
      return;
    }
    if (this.paused) this.resumeIfPossible();
    else this.checkBackpressure();
  }

  private readonly onClose = (): void => {
    this.closing = true;
    for (let i = this.head; i < this.tail; i++) this.slots[i]!.owner = null;
    this.slots = [];
    this.head = this.tail = 0;
    this.held = null;
    this.heldSlots = 0;
    this.owner.clientClosed(this);
  };

  /**
   * Graceful stop. Requests the client already sent may still sit in the kernel's receive buffer, so the
   * connection keeps reading until it has been quiet for DRAIN_QUIET_MS (as cachalot-server's drain
   * does), then answers what it has and ends after the replies.
   */
  drain(): void {
    if (this.draining || this.closing) return;
    this.draining = true;
    this.lastData = Date.now();
    const check = (): void => {
      if (this.closing || this.quitting) return;
      if (Date.now() - this.lastData < DRAIN_QUIET_MS) {
        setTimeout(check, DRAIN_QUIET_MS).unref();
        return;
      }
      if (!this.paused && this.rend > this.rstart) consumeBuffered(this);
      this.quit();
      this.socket.pause();
    };
    setTimeout(check, DRAIN_QUIET_MS).unref();
  }

  private draining = false;
  private lastData = 0;
  /** The last flush left its replies for the next turn (at most once in a row). */
  private deferred = false;
}
