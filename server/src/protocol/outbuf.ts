/**
 * A connection's reply buffer: replies to every request of one read event are appended here and sent
 * with one socket write (STYLE.md rule 4: one write per read event, not one per command).
 */
const INITIAL_SIZE = 16 * 1024;

/**
 * Views of `buf` kept for reuse by `filled()`, slotted by length. A workload's replies come in a few
 * lengths (a 100-byte hit is always 140 bytes), so the socket write finds its view here instead of making
 * a Buffer object per write: a new view was ~2% of the server's CPU on unpipelined 100-byte gets, and the
 * young-generation GCs it fed.
 */
const VIEW_SLOTS = 16;

export class OutBuf {
  buf: Buffer;
  pos = 0;

  /**
   * Large values sent without copying them into `buf` (zero-copy gets): refView[i] goes out between
   * buf[.., refPos[i]) and buf[refPos[i], ..). refPin[i] is what `unpin` must be given once the socket
   * no longer needs the bytes (the store keeps the segment in place until then). refBytes sums their
   * lengths, so that "how much is queued" is pos + refBytes.
   */
  readonly refPos: number[] = [];
  readonly refView: Uint8Array[] = [];
  readonly refPin: number[] = [];
  refBytes = 0;
  unpin: ((pin: number) => void) | undefined;

  /** filled()'s views, valid while `buf` is still `viewsOf` (the buffer is replaced as writes go out). */
  private readonly views: (Buffer | undefined)[] = new Array<Buffer | undefined>(VIEW_SLOTS).fill(undefined);
  private viewsOf: Buffer | undefined = undefined;

  private dv: DataView | undefined = undefined;
  private dvOf: Buffer | undefined = undefined;

  constructor(size = INITIAL_SIZE) {
    this.buf = Buffer.allocUnsafe(size);
  }

  /** A DataView over exactly `buf`, for copies into it that make no view per copy. Call after ensure(). */
  dataView(): DataView {
    const buf = this.buf;
    if (this.dvOf !== buf || this.dv === undefined) {
      this.dv = new DataView(buf.buffer, buf.byteOffset, buf.length);
      this.dvOf = buf;
    }
    return this.dv;
  }

  /** buf[0, pos): what the socket write sends. Valid until `buf` is replaced or written past `pos`. */
  filled(): Buffer {
    const n = this.pos;
    const buf = this.buf;
    const views = this.views;
    if (this.viewsOf !== buf) {
      views.fill(undefined);
      this.viewsOf = buf;
    }
    const slot = n & (VIEW_SLOTS - 1);
    const v = views[slot];
    if (v !== undefined && v.length === n) return v;
    const view = buf.subarray(0, n);
    views[slot] = view;
    return view;
  }

  ensure(extra: number): void {
    const need = this.pos + extra;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** Appends an ASCII string (command replies are ASCII). */
  ascii(s: string): void {
    const n = s.length;
    this.ensure(n);
    if (n <= 32) {
      // Reply words and short lines: a charCode loop stays in JS; Buffer.write is a C++ call each time
      // (measured in bench/micro/engine.mjs, get-hit: see the commit that added this).
      const buf = this.buf;
      let p = this.pos;
      for (let i = 0; i < n; i++) buf[p++] = s.charCodeAt(i);
      this.pos = p;
    } else {
      this.pos += this.buf.write(s, this.pos, 'latin1');
    }
  }

  bytes(src: Uint8Array, start: number, end: number): void {
    const n = end - start;
    this.ensure(n);
    const buf = this.buf;
    if (n <= 64) {
      // Keys and tokens: a byte loop beats making a subarray view per call (measured by the sidecar
      // engineer: the view was ~10% of its JS time).
      let p = this.pos;
      for (let i = start; i < end; i++) buf[p++] = src[i];
    } else {
      buf.set(src.subarray(start, end), this.pos);
    }
    this.pos += n;
  }

  byte(c: number): void {
    this.ensure(1);
    this.buf[this.pos++] = c;
  }

  crlf(): void {
    this.ensure(2);
    this.buf[this.pos++] = 13;
    this.buf[this.pos++] = 10;
  }

  /** Writes a non-negative integer (< 2^53) in decimal, without making a string. */
  uint(v: number): void {
    this.ensure(20);
    const buf = this.buf;
    if (v < 10) {
      buf[this.pos++] = 48 + v;
      return;
    }
    let digits = 1;
    for (let t = v; t >= 10; t = Math.floor(t / 10)) digits++;
    let p = this.pos + digits;
    this.pos = p;
    for (let t = v; t >= 1; t = Math.floor(t / 10)) buf[--p] = 48 + (t % 10);
  }

  /** Queues `view` to be sent at the current position without copying it; `pin` is released later. */
  ref(view: Uint8Array, pin: number): void {
    this.refPos.push(this.pos);
    this.refView.push(view);
    this.refPin.push(pin);
    this.refBytes += view.length;
  }

  /** Drops everything queued (memcached's conn_release_items), releasing the refs' pins. */
  reset(): void {
    this.pos = 0;
    if (this.refPin.length > 0) this.releaseRefs(this.takePins());
  }

  /** Hands the refs' pins to the caller (who releases them when the write is done) and forgets the refs. */
  takePins(): number[] {
    const pins = this.refPin.splice(0);
    this.refPos.length = 0;
    this.refView.length = 0;
    this.refBytes = 0;
    return pins;
  }

  releaseRefs(pins: number[]): void {
    const unpin = this.unpin;
    if (unpin !== undefined) for (const p of pins) unpin(p);
  }

  /** Replaces the buffer after it has been handed to a socket write; returns the filled bytes. */
  take(spare: Buffer | undefined): Buffer {
    const filled = this.buf.subarray(0, this.pos);
    this.buf = spare ?? Buffer.allocUnsafe(INITIAL_SIZE);
    this.pos = 0;
    return filled;
  }
}
