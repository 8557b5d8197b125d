import { MAX_TOKENS } from './limits.js';

/**
 * memcached's tokenize_command() over a slice of a Buffer, without copying: token i is
 * buf[starts[i], ends[i]). Splits on ' ' only; a NUL byte ends the line as strlen() would.
 *
 * `count` mirrors memcached's ntokens, which includes the terminal token, so the numeric checks in the
 * command table (WANT_TOKENS_OR(ntokens, 6, 7) and friends) read exactly as in proto_text.c. `rest` is
 * the offset of the first byte not tokenized (memcached's terminal token value) or -1 when the whole line
 * was consumed; only multi-key get uses it, to continue past 23 keys.
 */
export class Tokens {
  readonly starts = new Int32Array(MAX_TOKENS);
  readonly ends = new Int32Array(MAX_TOKENS);
  count = 0;
  rest = -1;
  buf: Buffer = Buffer.alloc(0);

  /** Tokenizes buf[start, end); returns count (memcached's ntokens). */
  tokenize(buf: Buffer, start: number, end: number): number {
    this.buf = buf;
    const starts = this.starts;
    const ends = this.ends;
    let n = 0;
    let s = start;
    let e = start;
    let stoppedEarly = false;
    for (; e < end; e++) {
      const c = buf[e];
      if (c === 0) break;
      if (c === 32) {
        if (s !== e) {
          starts[n] = s;
          ends[n] = e;
          n++;
          if (n === MAX_TOKENS - 1) {
            e++;
            s = e;
            stoppedEarly = true;
            break;
          }
        }
        s = e + 1;
      }
    }
    if (!stoppedEarly && s < e) {
      starts[n] = s;
      ends[n] = e;
      n++;
    }
    // The terminal token: null when the scan reached the end of the string.
    this.rest = e < end && buf[e] !== 0 ? e : -1;
    starts[n] = this.rest === -1 ? end : this.rest;
    ends[n] = starts[n];
    this.count = n + 1;
    return this.count;
  }

  length(i: number): number {
    return this.ends[i] - this.starts[i];
  }

  /** True when token i is exactly the ASCII string `word`. */
  is(i: number, word: string): boolean {
    const s = this.starts[i];
    const len = this.ends[i] - s;
    if (len !== word.length) return false;
    const buf = this.buf;
    for (let k = 0; k < len; k++) if (buf[s + k] !== word.charCodeAt(k)) return false;
    return true;
  }

  /** strncmp(token, prefix, prefix.length) === 0 */
  startsWith(i: number, prefix: string): boolean {
    const s = this.starts[i];
    if (this.ends[i] - s < prefix.length) return false;
    for (let k = 0; k < prefix.length; k++) if (this.buf[s + k] !== prefix.charCodeAt(k)) return false;
    return true;
  }

  first(i: number): number {
    return this.ends[i] > this.starts[i] ? this.buf[this.starts[i]] : 0;
  }

  text(i: number): string {
    return this.buf.toString('latin1', this.starts[i], this.ends[i]);
  }
}
