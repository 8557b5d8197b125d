/**
 * One persistent, pipelined connection to an upstream server. Requests are written as they come; memcached
 * answers in order, so replies are matched to requests first-in first-out by framing each reply according to
 * the request's kind (request.ts REPLY_*).
 *
 * Timeouts: one timer per connection, armed for the oldest request's deadline. When it passes, every request
 * on the connection is answered without the server and the connection is closed, because a pipelined stream
 * whose head is late cannot be resynchronised. A client therefore never waits past the request timeout,
 * whether the server is slow, silent, or still connecting.
 */
import net from 'node:net';
import { OutBuf } from '../../protocol/outbuf.js';
import { markUpstream, type Flushable } from '../batch.js';
import {
  END, FAIL_CONNECTION, FAIL_PROTOCOL, FAIL_TIMEOUT, REPLY_GET, REPLY_LINE, REPLY_QUIET, type Part,
} from '../request.js';
import { appendBytes } from '../copy.js';
import { stashBytes } from '../../net/readbuffer.js';
import { tick } from '../eventclock.js';
import { sharedReadBuffer } from '../../net/sharedread.js';
import { AUTH_NEED_MORE, AUTH_REFUSED, consumeAuthReply, type UpstreamSecurity } from './security.js';

/** A reply line longer than this without '\n' means the stream is not memcached's: give up on it. */
const MAX_REPLY_LINE = 8192;
/**
 * Keys per coalesced get line (enqueueGet): a line of at most 64 x 251 bytes, well under the server's limit
 * for get lines.
 */
const COALESCE_MAX = 64;
const NEED_MORE = -1;
const BAD_STREAM = -2;

export interface ConnOwner {
  readonly host: string;
  readonly port: number;
  readonly connectTimeoutMs: number;
  readonly requestTimeoutMs: number;
  /** A reply arrived: the server is healthy. `ms` is the request's latency. */
  replied(ms: number): void;
  /** The connection failed with requests outstanding (or while connecting). */
  connFailed(conn: UpstreamConn, reason: 'timeout' | 'connect' | 'closed' | 'protocol'): void;
  /** The connection closed; the owner forgets it. */
  connClosed(conn: UpstreamConn): void;
  /** TLS and the auth `set` towards servers (--tls-ca, --auth-file); undefined for plaintext. */
  readonly security?: UpstreamSecurity;
}

export class UpstreamConn implements Flushable {
  marked = false;
  /** Requests are appended here by the router and written on flush (or on connect). */
  readonly out = new OutBuf();
  private readonly socket: net.Socket;
  private connected = false;
  private closed = false;
  /**
   * Parts awaiting replies, oldest at `head`, next free slot at `tail`. The array keeps its capacity when it
   * empties (head and tail go back to 0) rather than being truncated: `length = 0` and the regrowth after it
   * showed in `perf` as runtime calls per read.
   */
  private queue: Array<Part | null> = [];
  private head = 0;
  private tail = 0;
  // ReadBuffered: public so that stashBytes() can work on them.
  rbuf: Buffer = Buffer.alloc(0);
  rstart = 0;
  rend = 0;
  private timer: NodeJS.Timeout | null = null;
  private connectTimer: NodeJS.Timeout | null;
  /**
   * The coalesced get still open for more keys: its first part (queued), its last, how many, and where its
   * line starts in `out`. Null once anything else is queued after it or `out` is written.
   */
  private openGet: Part | null = null;
  private openGetTail: Part | null = null;
  private openGetCount = 0;
  private openGetLine = 0;
  /** Requests in coalesced gets besides their first parts (which are in `queue`). */
  private followers = 0;

  /** The server's reply to the auth `set` has not been read yet (upstream/security.ts). */
  private authPending = false;

  constructor(private readonly owner: ConnOwner) {
    const secured = owner.security?.connect(owner.host, owner.port);
    // Reads land in the shared buffer (net/sharedread.ts): replies not written to their client at once are copied out.
    this.socket = secured?.socket ?? net.connect({
      host: owner.host, port: owner.port, onread: { buffer: sharedReadBuffer, callback: this.onRead },
    } as unknown as net.NetConnectOpts);
    if (secured !== undefined) this.socket.on('data', (chunk: Buffer) => this.onRead(chunk.length, chunk));
    this.socket.setNoDelay(true);
    // A peer that vanished without a FIN is found by the request timeout when busy, by keepalive when idle.
    this.socket.setKeepAlive(true, 30_000);
    this.socket.on(secured?.ready ?? 'connect', this.onConnect);
    this.socket.on('error', this.onError);
    this.socket.on('close', this.onClose);
    this.connectTimer = setTimeout(this.onConnectTimeout, owner.connectTimeoutMs);
  }

  get inFlight(): number {
    return this.tail - this.head + this.followers;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Registers a request whose bytes the caller appends to `out`; `now` is the eventclock.ts time of this event. */
  enqueue(part: Part, now: number): void {
    if (this.openGet !== null) this.closeGet();
    part.deadline = now + this.owner.requestTimeoutMs;
    part.started = now;
    this.queue[this.tail++] = part;
    if (this.timer === null) this.armTimer(now);
    markUpstream(this);
  }

  /**
   * Queues a single-key `get` of key[ks, ke) (REPLY_GET part): as another key of the get line queued just before
   * it when there is one still open, else as a new line "get <key>". The server then parses one command for
   * the group and ends one reply, and the group's reply is split by key here (completeGroup). Only a get
   * queued last on this connection is extended, so every client's requests stay in the order it sent them.
   */
  enqueueGet(part: Part, now: number, key: Buffer, ks: number, ke: number): void {
    const out = this.out;
    const tail = this.openGetTail;
    if (tail !== null && this.openGetCount < COALESCE_MAX) {
      part.deadline = now + this.owner.requestTimeoutMs;
      part.started = now;
      out.pos -= 2; // the line's "\r\n"
      out.byte(32);
      part.keyStart = out.pos - this.openGetLine;
      appendBytes(out, key, ks, ke);
      part.keyEnd = out.pos - this.openGetLine;
      out.crlf();
      tail.next = part;
      this.openGetTail = part;
      this.openGetCount++;
      this.followers++;
      return;
    }
    this.enqueue(part, now);
    this.openGetLine = out.pos;
    out.ascii('get ');
    part.keyStart = 4;
    appendBytes(out, key, ks, ke);
    part.keyEnd = out.pos - this.openGetLine;
    out.crlf();
    this.openGet = this.openGetTail = part;
    this.openGetCount = 1;
  }

  /** No more keys for the open get: a group of several keeps a copy of its line to match the reply's keys. */
  private closeGet(): void {
    const first = this.openGet!;
    this.openGet = this.openGetTail = null;
    if (first.next === null) return;
    const out = this.out;
    const line = Buffer.allocUnsafe(out.pos - this.openGetLine);
    out.buf.copy(line, 0, this.openGetLine, out.pos);
    first.groupLine = line;
  }

  flush(): void {
    const out = this.out;
    if (!this.connected || this.closed || out.pos === 0) return;
    if (this.openGet !== null) this.closeGet();
    this.socket.write(out.filled());
    if (this.socket.writableLength === 0) out.pos = 0;
    else out.take(undefined);
  }

  /** Closes without failing anything (used once idle, or at shutdown after the queue drained). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.clearTimers();
    this.socket.destroy();
  }

  private armTimer(now: number): void {
    if (this.head === this.tail) return;
    const head = this.queue[this.head]!;
    this.timer = setTimeout(this.onTimer, Math.max(1, head.deadline - now + 1));
  }

  private clearTimers(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.connectTimer !== null) clearTimeout(this.connectTimer);
    this.timer = this.connectTimer = null;
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    if (this.closed) return;
    if (this.head === this.tail) return;
    const head = this.queue[this.head]!;
    const now = performance.now();
    if (head.deadline <= now) this.fail('timeout', FAIL_TIMEOUT);
    else this.armTimer(now);
  };

  private readonly onConnectTimeout = (): void => {
    this.connectTimer = null;
    if (this.connected || this.closed) return;
    this.fail('connect', FAIL_CONNECTION);
  };

  private readonly onConnect = (): void => {
    if (this.connectTimer !== null) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    if (this.closed) return;
    this.connected = true;
    const preamble = this.owner.security?.authPreamble();
    if (preamble !== undefined) {
      this.authPending = true;
      this.socket.write(preamble);
    }
    this.flush();
  };

  private readonly onError = (): void => {
    // 'close' follows and does the accounting.
  };

  private readonly onClose = (): void => {
    if (!this.closed) {
      if (this.inFlight > 0 || !this.connected) this.fail(this.connected ? 'closed' : 'connect', FAIL_CONNECTION);
      else this.close();
    }
    this.owner.connClosed(this);
  };

  /** Answers every outstanding request without the server and closes the connection. */
  private fail(reason: 'timeout' | 'connect' | 'closed' | 'protocol', failure: string): void {
    if (this.closed) return;
    this.close();
    const parts = this.queue;
    const head = this.head;
    const tail = this.tail;
    this.queue = [];
    this.head = this.tail = 0;
    this.out.pos = 0;
    this.openGet = this.openGetTail = null;
    this.followers = 0;
    this.owner.connFailed(this, reason);
    for (let i = head; i < tail; i++) {
      for (let p: Part | null = parts[i]!; p !== null;) {
        const next: Part | null = p.next;
        p.next = null;
        p.fail(failure);
        p = next;
      }
    }
  }

  /** A coalesced get's whole reply buf[start, end) arrived: each of its requests is answered from it. */
  private completeGroup(first: Part, buf: Buffer, start: number, end: number, now: number): void {
    for (let p: Part | null = first; p !== null; p = p.next) this.owner.replied(now - p.started);
    this.followers -= splitGroup(first, buf, start, end) - 1;
  }

  private readonly onRead = (n: number, chunk: Buffer): void => {
    if (this.closed) return;
    if (this.rend === this.rstart) {
      const used = this.process(chunk, 0, n);
      if (used >= 0 && used < n) this.stash(chunk, used, n);
    } else {
      this.stash(chunk, 0, n);
      const used = this.process(this.rbuf, this.rstart, this.rend);
      if (used >= 0) {
        this.rstart = used;
        if (this.rstart === this.rend) this.rstart = this.rend = 0;
      }
    }
  };

  private stash(src: Buffer, start: number, end: number): void {
    stashBytes(this, src, start, end);
  }

  /** Completes every whole reply in buf[pos, end); returns the first unused offset, or -1 if it failed. */
  private process(buf: Buffer, pos: number, end: number): number {
    const queue = this.queue;
    const now = tick();
    if (this.authPending) {
      const at = consumeAuthReply(buf, pos, end);
      if (at === AUTH_NEED_MORE) return pos;
      if (at === AUTH_REFUSED) {
        this.fail('protocol', FAIL_PROTOCOL);
        return -1;
      }
      this.authPending = false;
      pos = at;
    }
    while (pos < end) {
      if (this.head === this.tail) {
        // Bytes nobody asked for: the stream is out of step with our requests.
        this.fail('protocol', FAIL_PROTOCOL);
        return -1;
      }
      const part = queue[this.head]!;
      const len = replyLength(buf, pos, end, part);
      if (len === NEED_MORE) break;
      if (len === BAD_STREAM) {
        this.fail('protocol', FAIL_PROTOCOL);
        return -1;
      }
      queue[this.head++] = null;
      if (part.next !== null) this.completeGroup(part, buf, pos, pos + len, now);
      else {
        this.owner.replied(now - part.started);
        // Both the shared read buffer and the stash buffer are reused: a reply kept for later is copied.
        part.completeFrom(buf, pos, pos + len);
      }
      pos += len;
    }
    if (this.head === this.tail) {
      this.head = this.tail = 0;
    } else if (this.head >= 1024) {
      // Never empty under steady pipelining: move the live parts to the front now and then.
      queue.copyWithin(0, this.head, this.tail);
      queue.fill(null, this.tail - this.head, this.tail);
      this.tail -= this.head;
      this.head = 0;
    }
    return pos;
  }
}

/**
 * Splits a coalesced get's reply buf[start, end) over its parts. The server answers the keys in the order
 * asked, each hit as one VALUE block and misses not at all, then END: each part in turn gets the next block
 * if it is for its key (with END appended) and END alone otherwise. An error line instead of a block (the
 * reply ends there) is every remaining part's reply, as it would have been for each get alone.
 */
function splitGroup(first: Part, buf: Buffer, start: number, end: number): number {
  const line = first.groupLine!;
  let pos = start;
  let n = 0;
  for (let p: Part | null = first; p !== null;) {
    const next: Part | null = p.next;
    p.next = null;
    n++;
    // The reply's framing was checked (getReplyLength): lines are scanned here in JS, without an indexOf
    // call into C++ per key.
    if (buf[pos] === 86 && buf[pos + 1] === 65 && buf[pos + 2] === 76 && buf[pos + 5] === 32) { // "VALUE "
      const ks = pos + 6;
      let q = ks;
      while (q < end && buf[q] !== 32) q++;
      if (sameBytes(buf, ks, q, line, p.keyStart, p.keyEnd)) {
        q++;
        while (q < end && buf[q] !== 32) q++; // flags
        q++;
        let size = 0;
        while (q < end && buf[q]! >= 48 && buf[q]! <= 57) size = size * 10 + (buf[q++]! - 48);
        while (q < end && buf[q] !== 10) q++;
        const blockEnd = q + 1 + size + 2;
        p.completeFrom(buf, pos, blockEnd, true);
        pos = blockEnd;
      } else p.complete(END);
    } else if (buf[pos] === 69 && buf[pos + 1] === 78 && buf[pos + 2] === 68 // "END\r\n" or "END\n"
      && (buf[pos + 3] === 13 || buf[pos + 3] === 10)) {
      p.complete(END);
    } else {
      const nl = buf.indexOf(10, pos);
      p.completeFrom(buf, pos, nl < 0 || nl >= end ? end : nl + 1);
    }
    p = next;
  }
  return n;
}

function sameBytes(a: Buffer, as: number, ae: number, b: Buffer, bs: number, be: number): boolean {
  if (ae - as !== be - bs) return false;
  for (let i = 0; i < ae - as; i++) if (a[as + i] !== b[bs + i]) return false;
  return true;
}

/** Length of the complete reply at buf[pos, end) for `part`, NEED_MORE, or BAD_STREAM. */
function replyLength(buf: Buffer, pos: number, end: number, part: Part): number {
  if (part.kind === REPLY_GET) return getReplyLength(buf, pos, end, part);
  if (part.kind === REPLY_QUIET) return quietReplyLength(buf, pos, end, part);
  const nl = buf.indexOf(10, pos);
  if (nl < 0 || nl >= end) return end - pos > MAX_REPLY_LINE ? BAD_STREAM : NEED_MORE;
  const lineLen = nl + 1 - pos;
  if (part.kind === REPLY_LINE) return lineLen;
  // REPLY_META: "VA <size> <flags>*\r\n<data>\r\n"
  if (buf[pos] === 86 && buf[pos + 1] === 65 && buf[pos + 2] === 32) {
    let size = 0;
    for (let p = pos + 3; p < nl && buf[p]! >= 48 && buf[p]! <= 57; p++) size = size * 10 + (buf[p]! - 48);
    const total = lineLen + size + 2;
    return end - pos >= total ? total : NEED_MORE;
  }
  return lineLen;
}

/** At most one meta reply (with its data block when VA), then the MN the sidecar appended. */
function quietReplyLength(buf: Buffer, pos: number, end: number, part: Part): number {
  let p = pos + part.scanned;
  const nl = buf.indexOf(10, p);
  if (nl < 0 || nl >= end) return end - p > MAX_REPLY_LINE ? BAD_STREAM : NEED_MORE;
  const isMn = nl - p === 3 && buf[p] === 77 && buf[p + 1] === 78;
  if (isMn) return nl + 1 - pos;
  if (part.scanned !== 0) return BAD_STREAM; // a second reply before MN: out of step
  p = nl + 1;
  if (buf[pos] === 86 && buf[pos + 1] === 65 && buf[pos + 2] === 32) {
    let size = 0;
    for (let q = pos + 3; q < nl && buf[q]! >= 48 && buf[q]! <= 57; q++) size = size * 10 + (buf[q]! - 48);
    p += size + 2;
  }
  if (p > end) return NEED_MORE;
  part.scanned = p - pos;
  return quietReplyLength(buf, pos, end, part);
}

function getReplyLength(buf: Buffer, pos: number, end: number, part: Part): number {
  let p = pos + part.scanned;
  for (;;) {
    const nl = buf.indexOf(10, p);
    if (nl < 0 || nl >= end) {
      part.scanned = p - pos;
      return end - p > MAX_REPLY_LINE ? BAD_STREAM : NEED_MORE;
    }
    if (buf[p] === 86 && buf[p + 1] === 65 && buf[p + 2] === 76 && buf[p + 5] === 32) { // "VALUE "
      // VALUE <key> <flags> <bytes> [<cas>]: the size is the fourth token.
      let q = p + 6;
      for (let skip = 0; skip < 2; skip++) {
        while (q < nl && buf[q] !== 32) q++;
        q++;
      }
      let size = 0;
      while (q < nl && buf[q]! >= 48 && buf[q]! <= 57) size = size * 10 + (buf[q++]! - 48);
      const blockEnd = nl + 1 + size + 2;
      if (blockEnd > end) {
        part.scanned = p - pos;
        return NEED_MORE;
      }
      p = blockEnd;
      continue;
    }
    // END, or an error line ending the reply early.
    return nl + 1 - pos;
  }
}

