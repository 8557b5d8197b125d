// Values that carry their own identity, for tests that look for torn, mixed-up or changed values under
// concurrency: `<key>|<writer>|<payload length>|<sha1 of payload, 16 hex>|` then a seeded binary payload.
// The payload may contain CR LF, so framing bugs show up as checksum failures rather than parse errors.
import { createHash } from 'node:crypto';

/** xorshift32: deterministic per seed, cheap to regenerate. */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

/** A checksum computed natively: hashing ~100 MB in JS would dominate a test's CPU time. */
function checksum(buf: Buffer, start: number): string {
  return createHash('sha1').update(buf.subarray(start)).digest('hex').slice(0, 16);
}

export function makeValue(key: string, writer: string, size: number, seed: number): Buffer {
  const next = rng(seed);
  const payload = Buffer.allocUnsafe(size);
  const whole = size & ~3;
  for (let i = 0; i < whole; i += 4) payload.writeUInt32LE(next(), i);
  for (let i = whole; i < size; i++) payload[i] = next() & 0xff;
  const header = Buffer.from(`${key}|${writer}|${size}|${checksum(payload, 0)}|`, 'latin1');
  return Buffer.concat([header, payload]);
}

/** null if the value is intact and belongs to `key`, else what is wrong with it. */
export function checkValue(key: string, value: Buffer): string | null {
  let pos = 0;
  const fields: string[] = [];
  for (let f = 0; f < 4; f++) {
    const bar = value.indexOf(0x7c, pos);
    if (bar < 0) return `no header (${value.length} bytes)`;
    fields.push(value.toString('latin1', pos, bar));
    pos = bar + 1;
  }
  const [owner, writer, size, sum] = fields;
  if (owner !== key) return `value of ${owner} (written by ${writer}) returned for ${key}`;
  if (Number(size) !== value.length - pos) return `${key} by ${writer}: payload ${value.length - pos} bytes, header says ${size}`;
  if (checksum(value, pos) !== sum) return `${key} by ${writer}: checksum mismatch (torn or changed value)`;
  return null;
}
