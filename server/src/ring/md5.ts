/**
 * The first 32 bits of MD5 (RFC 1321) over a byte range, which is all ketama uses of a key's digest (bytes
 * 0..3, little-endian: MD5's state word A). crypto.createHash('md5') costs a Hash object, a digest Buffer and
 * a trip into C++ per key; this is the 64 steps unrolled over a reused 16-word block, no allocation.
 * `node bench/sidecar.mjs --micro` measures both (16-byte keys). Checked against node:crypto in
 * test/unit/ring/md5.test.ts.
 */

/** One 64-byte block, reused: the message's tail, its 0x80 terminator and its bit length go here. */
const block = new Int32Array(16);
const blockBytes = new Uint8Array(block.buffer);
/** The running state between blocks (index 0..3 = A..D). */
const state = new Int32Array(4);

/**
 * RFC 1321's transform of `block` into `state`, its 64 steps written out as expressions: as helper functions
 * (ff/gg/hh/ii) they were not inlined (the function is over TurboFan's inlining budget) and cost 700 ns per
 * 16-byte key, more than node:crypto.
 */
function transform(): void {
  const m0 = block[0]!;
  const m1 = block[1]!;
  const m2 = block[2]!;
  const m3 = block[3]!;
  const m4 = block[4]!;
  const m5 = block[5]!;
  const m6 = block[6]!;
  const m7 = block[7]!;
  const m8 = block[8]!;
  const m9 = block[9]!;
  const m10 = block[10]!;
  const m11 = block[11]!;
  const m12 = block[12]!;
  const m13 = block[13]!;
  const m14 = block[14]!;
  const m15 = block[15]!;
  let a = state[0]!;
  let b = state[1]!;
  let c = state[2]!;
  let d = state[3]!;
  let x = 0;
  x = (a + ((b & c) | (~b & d)) + m0 + (-680876936)) | 0;
  a = ((x << 7) | (x >>> 25)) + b | 0;
  x = (d + ((a & b) | (~a & c)) + m1 + (-389564586)) | 0;
  d = ((x << 12) | (x >>> 20)) + a | 0;
  x = (c + ((d & a) | (~d & b)) + m2 + (606105819)) | 0;
  c = ((x << 17) | (x >>> 15)) + d | 0;
  x = (b + ((c & d) | (~c & a)) + m3 + (-1044525330)) | 0;
  b = ((x << 22) | (x >>> 10)) + c | 0;
  x = (a + ((b & c) | (~b & d)) + m4 + (-176418897)) | 0;
  a = ((x << 7) | (x >>> 25)) + b | 0;
  x = (d + ((a & b) | (~a & c)) + m5 + (1200080426)) | 0;
  d = ((x << 12) | (x >>> 20)) + a | 0;
  x = (c + ((d & a) | (~d & b)) + m6 + (-1473231341)) | 0;
  c = ((x << 17) | (x >>> 15)) + d | 0;
  x = (b + ((c & d) | (~c & a)) + m7 + (-45705983)) | 0;
  b = ((x << 22) | (x >>> 10)) + c | 0;
  x = (a + ((b & c) | (~b & d)) + m8 + (1770035416)) | 0;
  a = ((x << 7) | (x >>> 25)) + b | 0;
  x = (d + ((a & b) | (~a & c)) + m9 + (-1958414417)) | 0;
  d = ((x << 12) | (x >>> 20)) + a | 0;
  x = (c + ((d & a) | (~d & b)) + m10 + (-42063)) | 0;
  c = ((x << 17) | (x >>> 15)) + d | 0;
  x = (b + ((c & d) | (~c & a)) + m11 + (-1990404162)) | 0;
  b = ((x << 22) | (x >>> 10)) + c | 0;
  x = (a + ((b & c) | (~b & d)) + m12 + (1804603682)) | 0;
  a = ((x << 7) | (x >>> 25)) + b | 0;
  x = (d + ((a & b) | (~a & c)) + m13 + (-40341101)) | 0;
  d = ((x << 12) | (x >>> 20)) + a | 0;
  x = (c + ((d & a) | (~d & b)) + m14 + (-1502002290)) | 0;
  c = ((x << 17) | (x >>> 15)) + d | 0;
  x = (b + ((c & d) | (~c & a)) + m15 + (1236535329)) | 0;
  b = ((x << 22) | (x >>> 10)) + c | 0;
  x = (a + ((b & d) | (c & ~d)) + m1 + (-165796510)) | 0;
  a = ((x << 5) | (x >>> 27)) + b | 0;
  x = (d + ((a & c) | (b & ~c)) + m6 + (-1069501632)) | 0;
  d = ((x << 9) | (x >>> 23)) + a | 0;
  x = (c + ((d & b) | (a & ~b)) + m11 + (643717713)) | 0;
  c = ((x << 14) | (x >>> 18)) + d | 0;
  x = (b + ((c & a) | (d & ~a)) + m0 + (-373897302)) | 0;
  b = ((x << 20) | (x >>> 12)) + c | 0;
  x = (a + ((b & d) | (c & ~d)) + m5 + (-701558691)) | 0;
  a = ((x << 5) | (x >>> 27)) + b | 0;
  x = (d + ((a & c) | (b & ~c)) + m10 + (38016083)) | 0;
  d = ((x << 9) | (x >>> 23)) + a | 0;
  x = (c + ((d & b) | (a & ~b)) + m15 + (-660478335)) | 0;
  c = ((x << 14) | (x >>> 18)) + d | 0;
  x = (b + ((c & a) | (d & ~a)) + m4 + (-405537848)) | 0;
  b = ((x << 20) | (x >>> 12)) + c | 0;
  x = (a + ((b & d) | (c & ~d)) + m9 + (568446438)) | 0;
  a = ((x << 5) | (x >>> 27)) + b | 0;
  x = (d + ((a & c) | (b & ~c)) + m14 + (-1019803690)) | 0;
  d = ((x << 9) | (x >>> 23)) + a | 0;
  x = (c + ((d & b) | (a & ~b)) + m3 + (-187363961)) | 0;
  c = ((x << 14) | (x >>> 18)) + d | 0;
  x = (b + ((c & a) | (d & ~a)) + m8 + (1163531501)) | 0;
  b = ((x << 20) | (x >>> 12)) + c | 0;
  x = (a + ((b & d) | (c & ~d)) + m13 + (-1444681467)) | 0;
  a = ((x << 5) | (x >>> 27)) + b | 0;
  x = (d + ((a & c) | (b & ~c)) + m2 + (-51403784)) | 0;
  d = ((x << 9) | (x >>> 23)) + a | 0;
  x = (c + ((d & b) | (a & ~b)) + m7 + (1735328473)) | 0;
  c = ((x << 14) | (x >>> 18)) + d | 0;
  x = (b + ((c & a) | (d & ~a)) + m12 + (-1926607734)) | 0;
  b = ((x << 20) | (x >>> 12)) + c | 0;
  x = (a + (b ^ c ^ d) + m5 + (-378558)) | 0;
  a = ((x << 4) | (x >>> 28)) + b | 0;
  x = (d + (a ^ b ^ c) + m8 + (-2022574463)) | 0;
  d = ((x << 11) | (x >>> 21)) + a | 0;
  x = (c + (d ^ a ^ b) + m11 + (1839030562)) | 0;
  c = ((x << 16) | (x >>> 16)) + d | 0;
  x = (b + (c ^ d ^ a) + m14 + (-35309556)) | 0;
  b = ((x << 23) | (x >>> 9)) + c | 0;
  x = (a + (b ^ c ^ d) + m1 + (-1530992060)) | 0;
  a = ((x << 4) | (x >>> 28)) + b | 0;
  x = (d + (a ^ b ^ c) + m4 + (1272893353)) | 0;
  d = ((x << 11) | (x >>> 21)) + a | 0;
  x = (c + (d ^ a ^ b) + m7 + (-155497632)) | 0;
  c = ((x << 16) | (x >>> 16)) + d | 0;
  x = (b + (c ^ d ^ a) + m10 + (-1094730640)) | 0;
  b = ((x << 23) | (x >>> 9)) + c | 0;
  x = (a + (b ^ c ^ d) + m13 + (681279174)) | 0;
  a = ((x << 4) | (x >>> 28)) + b | 0;
  x = (d + (a ^ b ^ c) + m0 + (-358537222)) | 0;
  d = ((x << 11) | (x >>> 21)) + a | 0;
  x = (c + (d ^ a ^ b) + m3 + (-722521979)) | 0;
  c = ((x << 16) | (x >>> 16)) + d | 0;
  x = (b + (c ^ d ^ a) + m6 + (76029189)) | 0;
  b = ((x << 23) | (x >>> 9)) + c | 0;
  x = (a + (b ^ c ^ d) + m9 + (-640364487)) | 0;
  a = ((x << 4) | (x >>> 28)) + b | 0;
  x = (d + (a ^ b ^ c) + m12 + (-421815835)) | 0;
  d = ((x << 11) | (x >>> 21)) + a | 0;
  x = (c + (d ^ a ^ b) + m15 + (530742520)) | 0;
  c = ((x << 16) | (x >>> 16)) + d | 0;
  x = (b + (c ^ d ^ a) + m2 + (-995338651)) | 0;
  b = ((x << 23) | (x >>> 9)) + c | 0;
  x = (a + (c ^ (b | ~d)) + m0 + (-198630844)) | 0;
  a = ((x << 6) | (x >>> 26)) + b | 0;
  x = (d + (b ^ (a | ~c)) + m7 + (1126891415)) | 0;
  d = ((x << 10) | (x >>> 22)) + a | 0;
  x = (c + (a ^ (d | ~b)) + m14 + (-1416354905)) | 0;
  c = ((x << 15) | (x >>> 17)) + d | 0;
  x = (b + (d ^ (c | ~a)) + m5 + (-57434055)) | 0;
  b = ((x << 21) | (x >>> 11)) + c | 0;
  x = (a + (c ^ (b | ~d)) + m12 + (1700485571)) | 0;
  a = ((x << 6) | (x >>> 26)) + b | 0;
  x = (d + (b ^ (a | ~c)) + m3 + (-1894986606)) | 0;
  d = ((x << 10) | (x >>> 22)) + a | 0;
  x = (c + (a ^ (d | ~b)) + m10 + (-1051523)) | 0;
  c = ((x << 15) | (x >>> 17)) + d | 0;
  x = (b + (d ^ (c | ~a)) + m1 + (-2054922799)) | 0;
  b = ((x << 21) | (x >>> 11)) + c | 0;
  x = (a + (c ^ (b | ~d)) + m8 + (1873313359)) | 0;
  a = ((x << 6) | (x >>> 26)) + b | 0;
  x = (d + (b ^ (a | ~c)) + m15 + (-30611744)) | 0;
  d = ((x << 10) | (x >>> 22)) + a | 0;
  x = (c + (a ^ (d | ~b)) + m6 + (-1560198380)) | 0;
  c = ((x << 15) | (x >>> 17)) + d | 0;
  x = (b + (d ^ (c | ~a)) + m13 + (1309151649)) | 0;
  b = ((x << 21) | (x >>> 11)) + c | 0;
  x = (a + (c ^ (b | ~d)) + m4 + (-145523070)) | 0;
  a = ((x << 6) | (x >>> 26)) + b | 0;
  x = (d + (b ^ (a | ~c)) + m11 + (-1120210379)) | 0;
  d = ((x << 10) | (x >>> 22)) + a | 0;
  x = (c + (a ^ (d | ~b)) + m2 + (718787259)) | 0;
  c = ((x << 15) | (x >>> 17)) + d | 0;
  x = (b + (d ^ (c | ~a)) + m9 + (-343485551)) | 0;
  b = ((x << 21) | (x >>> 11)) + c | 0;
  state[0] = (state[0]! + a) | 0;
  state[1] = (state[1]! + b) | 0;
  state[2] = (state[2]! + c) | 0;
  state[3] = (state[3]! + d) | 0;
}

/** md5(src[start, end)) bytes 0..3 as a little-endian uint32 (ketama's key hash). Assumes a little-endian host. */
export function md5First32(src: Uint8Array, start: number, end: number): number {
  state[0] = 0x67452301;
  state[1] = 0xefcdab89 | 0;
  state[2] = 0x98badcfe | 0;
  state[3] = 0x10325476;
  const len = end - start;
  let p = start;
  while (end - p >= 64) {
    for (let i = 0; i < 64; i++) blockBytes[i] = src[p + i]!;
    transform();
    p += 64;
  }
  const rest = end - p;
  // Zeroed as 16 words rather than up to 63 bytes, then the tail and its terminator on top.
  for (let i = 0; i < 16; i++) block[i] = 0;
  for (let i = 0; i < rest; i++) blockBytes[i] = src[p + i]!;
  blockBytes[rest] = 0x80;
  if (rest >= 56) {
    transform();
    block.fill(0);
  }
  // Length in bits, 64-bit little-endian (keys are far below 2^29 bytes).
  block[14] = (len * 8) | 0;
  block[15] = Math.floor(len / 0x20000000);
  transform();
  return state[0]! >>> 0;
}
