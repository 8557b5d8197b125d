/**
 * Merging the replies of a request split over several upstreams.
 *
 * Multi-get: memcached answers the keys it holds in the order asked, skipping misses, then END. Each part's
 * VALUE blocks are matched against the keys that part asked for, in order, and the client gets every hit in
 * its own request order, then one END. A part that failed (ejected, timed out) contributes misses. A part
 * that answered with an error line instead (CLIENT_ERROR, SERVER_ERROR) makes that line the whole reply,
 * as it would have been from a single server.
 */
/** What merging reads of one upstream's share of a request (request.ts Part). */
export interface PartReply {
  /** The upstream's whole reply, or null when the part failed. */
  reply: Buffer | null;
  /** The reply line standing in for a failed part. */
  failure: string;
}

/** What merging reads of a multi-get split over upstreams (request.ts Slot). */
export interface SplitGet {
  parts: readonly PartReply[] | null;
  /** The keys in request order: bytes, [start, end) offsets per key, and the part each key went to. */
  keyBytes: Buffer | null;
  keyOffsets: Int32Array | null;
  keyPart: Int32Array | null;
}

const END = Buffer.from('END\r\n');
const OK = Buffer.from('OK\r\n');

/** VALUE blocks found in one part's reply: [keyStart, keyEnd, blockStart, blockEnd) per block. */
interface Blocks {
  reply: Buffer;
  spans: number[];
  cursor: number;
}

/** Splits a get reply into blocks; returns the error line instead when the reply is not VALUE*END. */
function parseGetReply(reply: Buffer): number[] | Buffer {
  const spans: number[] = [];
  let pos = 0;
  while (pos < reply.length) {
    const nl = reply.indexOf(10, pos);
    if (nl < 0) break;
    if (reply[pos] === 86 && reply[pos + 1] === 65 && reply[pos + 5] === 32) { // "VALUE "
      const ks = pos + 6;
      let ke = ks;
      while (ke < nl && reply[ke] !== 32) ke++;
      // VALUE <key> <flags> <bytes> [<cas>]
      let p = ke + 1;
      while (p < nl && reply[p] !== 32) p++; // flags
      p++;
      let bytes = 0;
      while (p < nl && reply[p]! >= 48 && reply[p]! <= 57) bytes = bytes * 10 + (reply[p++]! - 48);
      const blockEnd = nl + 1 + bytes + 2;
      spans.push(ks, ke, pos, blockEnd);
      pos = blockEnd;
      continue;
    }
    if (reply[pos] === 69 && reply[pos + 1] === 78 && reply[pos + 2] === 68) return spans; // END
    return reply.subarray(pos, nl + 1);
  }
  return spans;
}

function sameKey(a: Buffer, as: number, ae: number, b: Buffer, bs: number, be: number): boolean {
  if (ae - as !== be - bs) return false;
  for (let i = 0; i < ae - as; i++) if (a[as + i] !== b[bs + i]) return false;
  return true;
}

export function mergeMultiGet(slot: SplitGet): Buffer {
  const parts = slot.parts!;
  const keyBytes = slot.keyBytes!;
  const offsets = slot.keyOffsets!;
  const keyPart = slot.keyPart!;
  const blocks: Array<Blocks | null> = [];
  let total = END.length;
  for (const p of parts) {
    if (p.reply === null) {
      blocks.push(null);
      continue;
    }
    const parsed = parseGetReply(p.reply);
    if (!Array.isArray(parsed)) return Buffer.from(parsed);
    blocks.push({ reply: p.reply, spans: parsed, cursor: 0 });
    for (let i = 0; i < parsed.length; i += 4) total += parsed[i + 3]! - parsed[i + 2]!;
  }
  const out = Buffer.allocUnsafe(total);
  let pos = 0;
  for (let k = 0; k < keyPart.length; k++) {
    const pi = keyPart[k]!;
    if (pi < 0) continue;
    const b = blocks[pi];
    if (!b || b.cursor >= b.spans.length) continue;
    const s = b.spans;
    const c = b.cursor;
    if (!sameKey(b.reply, s[c]!, s[c + 1]!, keyBytes, offsets[2 * k]!, offsets[2 * k + 1]!)) continue;
    pos += b.reply.copy(out, pos, s[c + 2]!, s[c + 3]!);
    b.cursor = c + 4;
  }
  pos += END.copy(out, pos);
  return out.subarray(0, pos);
}

/**
 * Each key's VALUE block (a view of its part's reply) or null for a miss, in request order; or the error line
 * that stands for the whole reply when a part answered with one (as mergeMultiGet would send).
 */
export function blocksByKey(slot: SplitGet): Array<Buffer | null> | Buffer {
  const parts = slot.parts!;
  const keyBytes = slot.keyBytes!;
  const offsets = slot.keyOffsets!;
  const keyPart = slot.keyPart!;
  const blocks: Array<Blocks | null> = [];
  for (const p of parts) {
    if (p.reply === null) {
      blocks.push(null);
      continue;
    }
    const parsed = parseGetReply(p.reply);
    if (!Array.isArray(parsed)) return Buffer.from(parsed);
    blocks.push({ reply: p.reply, spans: parsed, cursor: 0 });
  }
  const out: Array<Buffer | null> = new Array<Buffer | null>(keyPart.length).fill(null);
  for (let k = 0; k < keyPart.length; k++) {
    const pi = keyPart[k]!;
    if (pi < 0) continue;
    const b = blocks[pi];
    if (!b || b.cursor >= b.spans.length) continue;
    const s = b.spans;
    const c = b.cursor;
    if (!sameKey(b.reply, s[c]!, s[c + 1]!, keyBytes, offsets[2 * k]!, offsets[2 * k + 1]!)) continue;
    out[k] = b.reply.subarray(s[c + 2]!, s[c + 3]!);
    b.cursor = c + 4;
  }
  return out;
}

/** flush_all sent to every server: OK only if every server said OK, else the first other reply. */
export function mergeFanout(parts: readonly PartReply[]): Buffer {
  for (const p of parts) {
    if (p.reply === null) return Buffer.from(p.failure, 'latin1');
    if (!p.reply.equals(OK)) return p.reply;
  }
  return OK;
}
