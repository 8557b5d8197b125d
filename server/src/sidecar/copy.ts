/**
 * Appending bytes to an OutBuf without the view object OutBuf.bytes() creates per call (src.subarray):
 * under `bench/sidecar.mjs --micro` that view and its FastBuffer were 10% of the sidecar's JavaScript per
 * request. Short ranges (request lines, keys) are copied byte by byte; longer ones with Buffer.copy, whose
 * call into C++ only pays off past a few dozen bytes (the store measured its crossover at 24 B).
 */
import type { OutBuf } from '../protocol/outbuf.js';

const LOOP_MAX = 48;

export function appendBytes(out: OutBuf, src: Buffer, start: number, end: number): void {
  const n = end - start;
  out.ensure(n);
  const dst = out.buf;
  let p = out.pos;
  if (n <= LOOP_MAX) {
    for (let i = start; i < end; i++) dst[p++] = src[i]!;
  } else {
    src.copy(dst, p, start, end);
    p += n;
  }
  out.pos = p;
}
