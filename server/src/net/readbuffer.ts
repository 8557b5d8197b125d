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
