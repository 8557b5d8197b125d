/**
 * Base64 as memcached's base64.c (Jouni Malinen's) does it for meta `b` keys: characters outside the
 * alphabet are skipped, the count of alphabet characters (with '=') must be a positive multiple of 4,
 * otherwise decoding fails (returns -1). Node's Buffer base64 decoder is lenient about length and padding,
 * which would accept keys memcached rejects.
 */
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const DECODE = new Int16Array(256).fill(-1);
for (let i = 0; i < 64; i++) DECODE[ALPHABET.charCodeAt(i)] = i;
DECODE[61] = 0; // '='

/** Decodes src[start,end) into dst at 0; returns the decoded length, or -1 when memcached would fail. */
export function base64Decode(src: Uint8Array, start: number, end: number, dst: Uint8Array): number {
  let count = 0;
  for (let i = start; i < end; i++) if (DECODE[src[i]] >= 0) count++;
  if (count === 0 || count % 4 !== 0) return -1;
  let out = 0;
  let acc = 0;
  let n = 0;
  let pad = 0;
  for (let i = start; i < end; i++) {
    const c = src[i];
    const v = DECODE[c];
    if (v < 0) continue;
    if (c === 61) pad++;
    acc = (acc << 6) | v;
    n++;
    if (n === 4) {
      dst[out++] = (acc >> 16) & 0xff;
      dst[out++] = (acc >> 8) & 0xff;
      dst[out++] = acc & 0xff;
      if (pad > 0) {
        if (pad === 1) out -= 1;
        else if (pad === 2) out -= 2;
        else return -1; // invalid padding
        break;
      }
      acc = 0;
      n = 0;
    }
  }
  return out;
}

export function base64Encode(src: Uint8Array, start: number, end: number): string {
  return Buffer.from(src.buffer, src.byteOffset + start, end - start).toString('base64');
}
