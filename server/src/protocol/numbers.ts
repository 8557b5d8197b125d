/**
 * memcached's safe_strto* (util.c) on byte ranges, so that every number the text protocol accepts or
 * rejects is accepted or rejected exactly as memcached does: leading whitespace and a sign are allowed
 * (strtol), the number must be followed by whitespace or the end of the token, out-of-range is an error,
 * and a negative value is an error for the unsigned parsers. They return NaN for "not a valid number".
 *
 * Numbers are accumulated as doubles while they are exact (< 2^53) and with BigInt beyond, which only
 * pathological input reaches.
 */

const TWO_POW_64 = 18446744073709551616n;
const TWO_POW_63 = 9223372036854775808n;

function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13);
}

/** Scratch result of scan(): sign, digit span, and where parsing stopped. */
let scanNegative = false;
let scanDigitsStart = 0;
let scanDigitsEnd = 0;

/** Returns false when strtol would set endptr == str (no digits). */
function scan(buf: Uint8Array, start: number, end: number): boolean {
  let i = start;
  while (i < end && isSpace(buf[i])) i++;
  scanNegative = false;
  if (i < end && (buf[i] === 43 || buf[i] === 45)) {
    scanNegative = buf[i] === 45;
    i++;
  }
  const d = i;
  while (i < end && buf[i] >= 48 && buf[i] <= 57) i++;
  scanDigitsStart = d;
  scanDigitsEnd = i;
  if (i === d) return false;
  // The character after the number must be whitespace or the end of the string (C's NUL included: incr
  // parses item data with strtoull, which stops there).
  return i === end || isSpace(buf[i]) || buf[i] === 0;
}

function digitsBig(buf: Uint8Array): bigint {
  let v = 0n;
  for (let i = scanDigitsStart; i < scanDigitsEnd; i++) v = v * 10n + BigInt(buf[i] - 48);
  return v;
}

function digitsNumber(buf: Uint8Array): number {
  let v = 0;
  for (let i = scanDigitsStart; i < scanDigitsEnd; i++) v = v * 10 + (buf[i] - 48);
  return v;
}

/** safe_strtoul into a uint32_t: a 64-bit strtoul whose result is truncated to 32 bits, as memcached does. */
export function parseU32(buf: Uint8Array, start: number, end: number): number {
  if (!scan(buf, start, end)) return NaN;
  if (scanDigitsEnd - scanDigitsStart <= 15) {
    const v = digitsNumber(buf);
    if (scanNegative) return v === 0 ? 0 : NaN;
    return v >>> 0;
  }
  const big = digitsBig(buf);
  if (big >= TWO_POW_64) return NaN; // ERANGE
  if (scanNegative) return big === 0n ? 0 : NaN;
  return Number(big & 0xffffffffn);
}

/** safe_strtol into an int32_t: rejects values above INT_MAX; values below INT_MIN wrap as the C cast does. */
export function parseI32(buf: Uint8Array, start: number, end: number): number {
  if (!scan(buf, start, end)) return NaN;
  if (scanDigitsEnd - scanDigitsStart <= 15) {
    const v = digitsNumber(buf);
    const signed = scanNegative ? -v : v;
    if (signed > 2147483647) return NaN;
    return signed | 0;
  }
  const big = digitsBig(buf);
  const signed = scanNegative ? -big : big;
  if (signed >= TWO_POW_63 || signed < -TWO_POW_63) return NaN; // ERANGE
  if (signed > 2147483647n) return NaN;
  return Number(BigInt.asIntN(32, signed));
}

/**
 * safe_strtoull: an unsigned 64-bit number. Returns a double when exact (< 2^53), a bigint above, NaN
 * when invalid. Callers that only compare (CAS) can treat a bigint as "matches nothing we issued".
 */
export function parseU64(buf: Uint8Array, start: number, end: number): number | bigint {
  if (!scan(buf, start, end)) return NaN;
  if (scanDigitsEnd - scanDigitsStart <= 15) {
    const v = digitsNumber(buf);
    if (scanNegative) return v === 0 ? 0 : NaN;
    return v;
  }
  const big = digitsBig(buf);
  if (big >= TWO_POW_64) return NaN;
  if (scanNegative) return big === 0n ? 0 : NaN;
  return big <= 9007199254740991n ? Number(big) : big;
}

/** safe_strtoull as a bigint (incr/decr arithmetic is modulo 2^64). Returns -1n when invalid. */
export function parseU64Big(buf: Uint8Array, start: number, end: number): bigint {
  const v = parseU64(buf, start, end);
  if (typeof v === 'bigint') return v;
  if (Number.isNaN(v)) return -1n;
  return BigInt(v);
}

/** Writes the decimal digits of a non-negative integer (< 2^53) at off; returns the new offset. */
export function writeUint(dst: Buffer, off: number, value: number): number {
  if (value < 10) {
    dst[off] = 48 + value;
    return off + 1;
  }
  let digits = 0;
  for (let v = value; v >= 1; v = Math.floor(v / 10)) digits++;
  let pos = off + digits - 1;
  let v = value;
  while (v >= 1) {
    const q = Math.floor(v / 10);
    dst[pos--] = 48 + (v - q * 10);
    v = q;
  }
  return off + digits;
}
