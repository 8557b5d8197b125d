/**
 * The read buffer of a connection that parses in place: bytes of a request (or reply) that arrived
 * incomplete wait in `rbuf[rstart, rend)` until the rest comes. Shared by the server's client connections
 * and the sidecar's client and upstream connections.
 */
export interface ReadBuffered {
  rbuf: Buffer;
  rstart: number;
  rend: number;
}

/**
 * Appends src[start, end), compacting the live bytes to the front or growing the buffer (by doubling, or
 * straight to `expected` bytes when the caller knows how much is coming, e.g. a data block).
 */
export function stashBytes(r: ReadBuffered, src: Buffer, start: number, end: number, expected = 0): void {
  const n = end - start;
  if (r.rend + n > r.rbuf.length) {
    const live = r.rend - r.rstart;
    if (live + n <= r.rbuf.length && r.rstart > 0) {
      r.rbuf.copy(r.rbuf, 0, r.rstart, r.rend);
    } else {
      let size = Math.max(4096, r.rbuf.length * 2, expected);
      while (size < live + n) size *= 2;
      const next = Buffer.allocUnsafe(size);
      r.rbuf.copy(next, 0, r.rstart, r.rend);
      r.rbuf = next;
    }
    r.rstart = 0;
    r.rend = live;
  }
  src.copy(r.rbuf, r.rend, start, end);
  r.rend += n;
}

/** A connection that executes requests straight out of what it reads, keeping the rest in its read buffer. */
export interface InputConsumer extends ReadBuffered {
  /** Executes every complete request in buf[pos, end); returns the offset of the first byte not used. */
  consume(buf: Buffer, pos: number, end: number): number;
  /** Bytes the read buffer should make room for when it grows (a data block being received), or 0. */
  expecting(): number;
}

/**
 * `n` bytes arrived at the start of `chunk`, which may be the thread's shared read buffer (the next read
 * on any connection overwrites it). With nothing buffered they are used in place; whatever is not used
 * before this returns (a partial request, requests left while the connection is paused) is copied into
 * the connection's read buffer.
 */
export function takeInput(r: InputConsumer, chunk: Buffer, n: number): void {
  if (r.rend === r.rstart) {
    const used = r.consume(chunk, 0, n);
    if (used < n) stashBytes(r, chunk, used, n, r.expecting());
  } else {
    stashBytes(r, chunk, 0, n, r.expecting());
    consumeBuffered(r);
  }
}

/** Executes the complete requests waiting in the read buffer; empties it when all are used. */
export function consumeBuffered(r: InputConsumer): void {
  r.rstart = r.consume(r.rbuf, r.rstart, r.rend);
  if (r.rstart === r.rend) r.rstart = r.rend = 0;
}
