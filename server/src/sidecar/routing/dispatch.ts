/**
 * What the sidecar does with each request line: parse it with the server's tokenizer and number parsers,
 * check it exactly as far as the server would before deciding whether a data block follows (so both frame
 * the byte stream the same way), then route it by key, fan it out, or answer it here.
 *
 * Every forwarded request must get exactly one reply, so that the pipelined stream can be matched first-in
 * first-out: a classic `noreply` is removed from the forwarded line and the reply dropped here (DROP_ALL);
 * a quiet meta command goes as it is, followed by `mn` (request.ts REPLY_QUIET).
 * A request the server would reject before reading a data block is answered here with the server's own
 * error text, never forwarded.
 */
import { Tokens } from '../../protocol/tokenize.js';
import { parseI32, parseU32, parseU64 } from '../../protocol/numbers.js';
import { base64Decode } from '../../protocol/base64.js';
import { KEY_MAX_LENGTH, LINE_LIMIT, MFLAG_MAX_OPT_LENGTH } from '../../protocol/limits.js';
import {
  DROP_ALL, FAIL_EJECTED, MERGE_FANOUT, MERGE_GET, REPLY_GET, REPLY_LINE, REPLY_META, REPLY_QUIET, Slot,
} from '../request.js';
import type { RoutingTable } from './table.js';
import type { Upstream } from '../upstream/upstream.js';
import type { UpstreamConn } from '../upstream/connection.js';
import { appendBytes } from '../copy.js';
import { clock } from '../eventclock.js';
import type { SidecarStats } from '../sidecar-stats.js';
import { VERSION } from '../../protocol/version.js';

/** dispatch() result: the line needs a data block that has not fully arrived yet. */
export const NEED_DATA = -1;

const INT_MAX_VLEN = 2147483647 - 2;

function reply(s: string): Buffer {
  return Buffer.from(s + '\r\n', 'latin1');
}
const R_ERROR = reply('ERROR');
const R_BAD_FORMAT = reply('CLIENT_ERROR bad command line format');
const R_TOO_LONG_OPTS = reply('CLIENT_ERROR options flags too long');
const R_TOO_LARGE = reply('SERVER_ERROR object too large for cache');
const R_BAD_EXPTIME = reply('CLIENT_ERROR invalid exptime argument');
const R_VERSION = reply('VERSION ' + VERSION);
const R_MN = reply('MN');
const R_OK = reply('OK');
const R_END = reply('END');
const R_SHUTDOWN = reply('ERROR: shutdown not enabled');
const R_EJECTED = Buffer.from(FAIL_EJECTED, 'latin1');

/** What the dispatcher needs from the client connection it serves. */
export interface DispatchClient {
  /** Picks this client's connection to each upstream, so its requests to one server stay in order. */
  readonly affinity: number;
  /** Queues a slot in reply order. */
  push(slot: Slot): void;
  /** Queues a reply made here (kept in order behind slots still waiting); null sends nothing. */
  local(bytes: Buffer | null): void;
  /** The next `n` input bytes are discarded (a value too large to forward). */
  swallow(n: number): void;
  /** quit: close once every earlier reply is written. */
  quit(): void;
  /** Close now without further replies (memcached's answer to an HTTP request line). */
  closeNow(): void;
}

export interface DispatchContext {
  table(): RoutingTable | null;
  /** Changes whenever an upstream is ejected or comes back. */
  ejectedGeneration(): number;
  readonly stats: SidecarStats;
  readonly maxItemSize: number;
  statsReply(sub: string): Buffer | null;
}

export class Dispatcher {
  private readonly t = new Tokens();
  private readonly keyScratch = Buffer.alloc(KEY_MAX_LENGTH + 8);
  private keyStarts: Int32Array<ArrayBuffer> = new Int32Array(64);
  private keyEnds: Int32Array<ArrayBuffer> = new Int32Array(64);
  private keyUp: Int32Array<ArrayBuffer> = new Int32Array(64);
  private readonly ups: Upstream[] = [];

  constructor(private readonly ctx: DispatchContext) {}

  /**
   * Handles the request line buf[start, lineEnd) whose '\n' is at next - 1; input is buffered up to `end`.
   * Returns the offset of the next request, or NEED_DATA.
   */
  dispatch(c: DispatchClient, buf: Buffer, start: number, lineEnd: number, next: number, end: number): number {
    const t = this.t;
    const ntokens = t.tokenize(buf, start, lineEnd);
    const stats = this.ctx.stats;
    if (ntokens < 2 || t.length(0) < 2) return this.local(c, R_ERROR, next);
    const first = t.first(0);
    const len0 = t.length(0);
    if (len0 === 2 && first === 109 /* m */) {
      switch (buf[t.starts[0] + 1]) {
        case 103: stats.cmd_meta++; return this.meta(c, buf, start, lineEnd, next, ntokens, true); // mg
        case 115: return this.metaSet(c, buf, start, lineEnd, next, end, ntokens); // ms (counted once whole)
        case 100: // md
        case 97: // ma
        case 101: stats.cmd_meta++; return this.meta(c, buf, start, lineEnd, next, ntokens, false); // me
        case 110: return this.local(c, R_MN, next); // mn
        default: return this.local(c, R_ERROR, next);
      }
    }
    if (lineEnd - start > LINE_LIMIT && first !== 103) {
      // The server closes a client whose non-get line has no '\n' within 2 KiB; forwarding such a line
      // could get the shared upstream connection closed, so the sidecar closes this client instead.
      c.closeNow();
      return next;
    }
    if (first === 103 /* g */) {
      if (t.is(0, 'get')) return this.multiGet(c, buf, start, lineEnd, next, ntokens, 'get', 1);
      if (t.is(0, 'gets')) return this.multiGet(c, buf, start, lineEnd, next, ntokens, 'gets', 1);
      if (t.is(0, 'gat')) return this.multiGet(c, buf, start, lineEnd, next, ntokens, 'gat', 2);
      if (t.is(0, 'gats')) return this.multiGet(c, buf, start, lineEnd, next, ntokens, 'gats', 2);
      return this.local(c, R_ERROR, next);
    }
    if (t.is(0, 'set') || t.is(0, 'add') || t.is(0, 'replace') || t.is(0, 'append') || t.is(0, 'prepend')) {
      if (ntokens !== 6 && ntokens !== 7) return this.local(c, R_ERROR, next);
      return this.storage(c, buf, start, lineEnd, next, end, ntokens, false);
    }
    if (t.is(0, 'cas')) {
      if (ntokens !== 7 && ntokens !== 8) return this.local(c, R_ERROR, next);
      return this.storage(c, buf, start, lineEnd, next, end, ntokens, true);
    }
    if (t.is(0, 'incr') || t.is(0, 'decr') || t.is(0, 'touch')) {
      if (first === 116) stats.cmd_touch++;
      if (ntokens !== 4 && ntokens !== 5) return this.local(c, R_ERROR, next);
      return this.keyed(c, buf, start, lineEnd, next, ntokens);
    }
    if (t.is(0, 'delete')) {
      if (ntokens < 3 || ntokens > 5) return this.local(c, R_ERROR, next);
      return this.keyed(c, buf, start, lineEnd, next, ntokens);
    }
    if (t.is(0, 'bget')) return this.multiGet(c, buf, start, lineEnd, next, ntokens, 'get', 1);
    if (t.is(0, 'version')) return this.local(c, R_VERSION, next);
    if (t.is(0, 'flush_all')) {
      stats.cmd_flush++;
      if (ntokens < 2 || ntokens > 4) return this.local(c, R_ERROR, next);
      return this.flushAll(c, buf, start, lineEnd, next, ntokens);
    }
    if (t.is(0, 'stats')) {
      const sub = ntokens === 2 ? '' : t.text(1);
      return this.local(c, this.ctx.statsReply(sub) ?? R_ERROR, next);
    }
    if (t.is(0, 'quit')) {
      c.quit();
      return next;
    }
    if (t.is(0, 'verbosity')) {
      if (ntokens !== 3 && ntokens !== 4) return this.local(c, R_ERROR, next);
      const noreply = t.is(ntokens - 2, 'noreply');
      const level = parseU32(buf, t.starts[1], t.ends[1]);
      return this.local(c, noreply ? null : Number.isNaN(level) ? R_BAD_FORMAT : R_OK, next);
    }
    if (t.is(0, 'shutdown')) return this.local(c, R_SHUTDOWN, next);
    if (t.startsWith(ntokens - 2, 'HTTP/')) {
      c.closeNow();
      return next;
    }
    // Per-server administration (slabs, lru_crawler, cache_memlimit, watch, ...) has no meaning through a
    // proxy of many servers: unknown here, as any other command.
    return this.local(c, R_ERROR, next);
  }

  private local(c: DispatchClient, bytes: Buffer | null, next: number): number {
    this.ctx.stats.local_replies++;
    c.local(bytes);
    return next;
  }

  private route(key: Uint8Array, start: number, end: number): Upstream | null {
    const table = this.ctx.table();
    return table === null ? null : table.route(key, start, end, this.ctx.ejectedGeneration());
  }

  /** Routes by token 1. */
  private routeToken(buf: Buffer): Upstream | null {
    return this.route(buf, this.t.starts[1], this.t.ends[1]);
  }

  /**
   * Sends a one-part request: the line without token `strip` (or -1), then `data` bytes of the input, then
   * `mn` for a quiet meta command (REPLY_QUIET).
   */
  private forward(c: DispatchClient, slot: Slot, u: Upstream | null, kind: number, buf: Buffer, start: number,
    lineEnd: number, strip: number, dataStart: number, dataLen: number): void {
    if (u === null) {
      slot.out = slot.missReply ?? (kind === REPLY_QUIET && slot.quietMiss ? null : R_EJECTED);
      this.ctx.stats.unrouted++;
      c.push(slot);
      slot.finish();
      return;
    }
    const part = slot.addPart(kind);
    c.push(slot);
    const conn = u.send(part, clock.now, c.affinity);
    writeLine(conn, buf, start, lineEnd, strip, this.t);
    if (dataLen > 0) appendBytes(conn.out, buf, dataStart, dataStart + dataLen);
    if (kind === REPLY_QUIET) conn.out.ascii('mn\r\n');
  }

  /** incr, decr, touch, delete: one line, routed by token 1. */
  private keyed(c: DispatchClient, buf: Buffer, start: number, lineEnd: number, next: number, ntokens: number): number {
    const t = this.t;
    let strip = -1;
    const slot = new Slot(null);
    if (t.is(ntokens - 2, 'noreply')) {
      // Forwarded without the token; if the line still ends in "noreply" the server would stay silent.
      if (ntokens > 3 && t.is(ntokens - 3, 'noreply')) return this.local(c, null, next);
      strip = ntokens - 2;
      slot.drop = DROP_ALL;
    }
    this.forward(c, slot, this.routeToken(buf), REPLY_LINE, buf, start, lineEnd, strip, 0, 0);
    return next;
  }

  /** set, add, replace, append, prepend, cas: checked as process_update_command() does, then forwarded with their data. */
  private storage(c: DispatchClient, buf: Buffer, start: number, lineEnd: number, next: number, end: number,
    ntokens: number, cas: boolean): number {
    const t = this.t;
    const noreply = t.is(ntokens - 2, 'noreply');
    const bad = noreply ? null : R_BAD_FORMAT;
    if (t.length(1) > KEY_MAX_LENGTH) return this.local(c, bad, next);
    const flags = parseU32(buf, t.starts[2], t.ends[2]);
    const exptime = parseI32(buf, t.starts[3], t.ends[3]);
    const vlen = parseI32(buf, t.starts[4], t.ends[4]);
    if (Number.isNaN(flags) || Number.isNaN(exptime) || Number.isNaN(vlen)) return this.local(c, bad, next);
    if (cas) {
      const v = parseU64(buf, t.starts[5], t.ends[5]);
      if (typeof v === 'number' && Number.isNaN(v)) return this.local(c, bad, next);
    }
    if (vlen < 0 || vlen > INT_MAX_VLEN) return this.local(c, bad, next);
    if (vlen > this.ctx.maxItemSize) {
      // Too large for any server: answered here and the value discarded as it streams in. memcached also
      // drops the key's old value on a failed set, so the owner is asked to delete it.
      if (t.is(0, 'set')) this.deleteQuietly(c, buf, t.starts[1], t.ends[1], false);
      c.local(noreply ? null : R_TOO_LARGE);
      c.swallow(vlen + 2);
      return next;
    }
    // A line whose value has not all arrived is dispatched again when more comes: counted once it has.
    if (end - next < vlen + 2) return NEED_DATA;
    this.ctx.stats.cmd_set++;
    const slot = new Slot(null);
    let strip = -1;
    if (noreply) {
      strip = ntokens - 2;
      slot.drop = DROP_ALL;
    }
    this.forward(c, slot, this.routeToken(buf), REPLY_LINE, buf, start, lineEnd, strip, next, vlen + 2);
    return next + vlen + 2;
  }

  /** mg, md, ma, me: one line routed by key (decoded when the b flag says the key is base64). */
  private meta(c: DispatchClient, buf: Buffer, start: number, lineEnd: number, next: number, ntokens: number,
    isGet: boolean): number {
    if (ntokens < 3) return this.local(c, R_ERROR, next);
    const slot = new Slot(null);
    const quiet = this.hasFlag(ntokens, 2, 113);
    if (isGet) {
      // Without its owner a get is a miss, which quiet mode hides.
      slot.quietMiss = quiet;
      if (!quiet) slot.missReply = this.metaMiss(buf, ntokens);
    }
    this.forward(c, slot, this.routeMeta(buf), quiet ? REPLY_QUIET : REPLY_META, buf, start, lineEnd, -1, 0, 0);
    return next;
  }

  /** ms: framed as process_mset_command() frames it; errors before the data block are answered here. */
  private metaSet(c: DispatchClient, buf: Buffer, start: number, lineEnd: number, next: number, end: number,
    ntokens: number): number {
    const t = this.t;
    if (ntokens < 3) return this.local(c, R_ERROR, next);
    if (t.length(1) > KEY_MAX_LENGTH || ntokens === 3) return this.local(c, R_BAD_FORMAT, next);
    if (ntokens > MFLAG_MAX_OPT_LENGTH) return this.local(c, R_TOO_LONG_OPTS, next);
    const vlen = parseI32(buf, t.starts[2], t.ends[2]);
    if (Number.isNaN(vlen) || vlen < 0 || vlen > INT_MAX_VLEN) return this.local(c, R_BAD_FORMAT, next);
    if (vlen > this.ctx.maxItemSize) {
      const binary = this.hasFlag(ntokens, 3, 98);
      this.deleteQuietly(c, buf, t.starts[1], t.ends[1], binary);
      c.local(R_TOO_LARGE);
      c.swallow(vlen + 2);
      return next;
    }
    if (end - next < vlen + 2) return NEED_DATA;
    this.ctx.stats.cmd_meta++;
    const slot = new Slot(null);
    const kind = this.hasFlag(ntokens, 3, 113) ? REPLY_QUIET : REPLY_META;
    this.forward(c, slot, this.routeMeta(buf), kind, buf, start, lineEnd, -1, next, vlen + 2);
    return next + vlen + 2;
  }

  private hasFlag(ntokens: number, from: number, flag: number): boolean {
    const t = this.t;
    for (let i = from; i < ntokens - 1; i++) if (t.buf[t.starts[i]] === flag) return true;
    return false;
  }

  /** Routes a meta command by its key: base64-decoded when a b flag is present and the key decodes. */
  private routeMeta(buf: Buffer): Upstream | null {
    const t = this.t;
    const ks = t.starts[1];
    const ke = t.ends[1];
    for (let i = 2; i < t.count - 1; i++) {
      if (buf[t.starts[i]] === 98 && ke - ks <= KEY_MAX_LENGTH) {
        const n = base64Decode(buf, ks, ke, this.keyScratch);
        if (n > 0) return this.route(this.keyScratch, 0, n);
        break;
      }
    }
    return this.route(buf, ks, ke);
  }

  /** mg's miss reply with its O and k flags echoed, for when the owner cannot be asked. */
  private metaMiss(buf: Buffer, ntokens: number): Buffer | null {
    const t = this.t;
    let extra = '';
    let binary = false;
    for (let i = 2; i < ntokens - 1; i++) if (buf[t.starts[i]] === 98) binary = true;
    for (let i = 2; i < ntokens - 1; i++) {
      const f = buf[t.starts[i]];
      if (f === 79) extra += ' ' + t.text(i);
      else if (f === 107) extra += ' k' + t.text(1) + (binary ? ' b' : '');
    }
    return extra === '' ? null : reply('EN' + extra);
  }

  /** get, gets, gat, gats: keys split per owner, one request per upstream, replies merged in key order. */
  private multiGet(c: DispatchClient, buf: Buffer, start: number, lineEnd: number, next: number, ntokens: number,
    cmd: string, firstKey: number): number {
    const t = this.t;
    const stats = this.ctx.stats;
    if (ntokens < 3) return this.local(c, R_ERROR, next);
    if (ntokens === 3 && firstKey === 1 && t.rest < 0) return this.singleGet(c, buf, start, lineEnd, next);
    let exptimeToken = '';
    if (firstKey === 2) {
      if (Number.isNaN(parseI32(buf, t.starts[1], t.ends[1]))) return this.local(c, R_BAD_EXPTIME, next);
      exptimeToken = t.text(1);
    }
    const table = this.ctx.table();
    const generation = this.ctx.ejectedGeneration();
    const ups = this.ups;
    ups.length = 0;
    let nkeys = 0;
    let k = firstKey;
    for (let guard = 0; guard < 1 << 20; guard++) {
      const last = t.count - 1;
      for (; k < last; k++) {
        const ks = t.starts[k];
        const ke = t.ends[k];
        if (ke - ks > KEY_MAX_LENGTH) return this.local(c, R_BAD_FORMAT, next);
        if (nkeys === this.keyStarts.length) this.growKeys();
        const u = table === null ? null : table.route(buf, ks, ke, generation);
        let ui = -1;
        if (u !== null) {
          ui = ups.indexOf(u);
          if (ui < 0) ui = ups.push(u) - 1;
        }
        this.keyStarts[nkeys] = ks;
        this.keyEnds[nkeys] = ke;
        this.keyUp[nkeys] = ui;
        nkeys++;
      }
      if (t.rest < 0) break;
      t.tokenize(buf, t.rest, lineEnd);
      k = 0;
    }
    stats.cmd_get += nkeys;
    const slot = new Slot(null);
    slot.merge = MERGE_GET;
    let misses = 0;
    for (let i = 0; i < nkeys; i++) if (this.keyUp[i] < 0) misses++;
    stats.unrouted += misses;
    if (ups.length === 0) {
      slot.out = R_END;
      c.push(slot);
      slot.finish();
      return next;
    }
    if (ups.length === 1 && misses === 0) {
      // Every key on one server (always, with one member): the request goes as it came.
      const part = slot.addPart(REPLY_GET);
      c.push(slot);
      const conn = ups[0]!.send(part, clock.now, c.affinity);
      appendBytes(conn.out, buf, start, lineEnd);
      conn.out.crlf();
      return next;
    }
    // Split: keep a copy of the keys for the merge, since the input buffer will be reused.
    const base = this.keyStarts[0]!;
    const lastEnd = this.keyEnds[nkeys - 1]!;
    slot.keyBytes = Buffer.from(buf.subarray(base, lastEnd));
    slot.keyOffsets = new Int32Array(nkeys * 2);
    slot.keyPart = new Int32Array(nkeys);
    for (let i = 0; i < nkeys; i++) {
      slot.keyOffsets[2 * i] = this.keyStarts[i]! - base;
      slot.keyOffsets[2 * i + 1] = this.keyEnds[i]! - base;
      slot.keyPart[i] = this.keyUp[i]!;
    }
    const parts = ups.map(() => slot.addPart(REPLY_GET));
    c.push(slot);
    const head = exptimeToken === '' ? cmd : `${cmd} ${exptimeToken}`;
    for (let ui = 0; ui < ups.length; ui++) {
      const conn = ups[ui]!.send(parts[ui]!, clock.now, c.affinity);
      const out = conn.out;
      out.ascii(head);
      for (let i = 0; i < nkeys; i++) {
        if (this.keyUp[i] !== ui) continue;
        out.byte(32);
        appendBytes(out, buf, this.keyStarts[i]!, this.keyEnds[i]!);
      }
      out.crlf();
    }
    return next;
  }

  /**
   * get/gets with one key, the most common request: what multiGet() does for one key (the same checks,
   * counters and replies), without its per-key arrays and loops.
   */
  private singleGet(c: DispatchClient, buf: Buffer, start: number, lineEnd: number, next: number): number {
    const t = this.t;
    const ks = t.starts[1]!;
    const ke = t.ends[1]!;
    if (ke - ks > KEY_MAX_LENGTH) return this.local(c, R_BAD_FORMAT, next);
    const stats = this.ctx.stats;
    stats.cmd_get++;
    const slot = new Slot(null);
    slot.merge = MERGE_GET;
    const u = this.route(buf, ks, ke);
    if (u === null) {
      stats.unrouted++;
      slot.out = R_END;
      c.push(slot);
      slot.finish();
      return next;
    }
    const part = slot.addPart(REPLY_GET);
    c.push(slot);
    if (t.length(0) === 3) {
      // get (not gets): may share one get line with the gets queued just before it (upstream/connection.ts).
      u.sendGet(part, clock.now, c.affinity, buf, ks, ke);
      return next;
    }
    const out = u.send(part, clock.now, c.affinity).out;
    appendBytes(out, buf, start, lineEnd);
    out.crlf();
    return next;
  }

  private growKeys(): void {
    const n = this.keyStarts.length * 2;
    const grow = (a: Int32Array): Int32Array<ArrayBuffer> => {
      const b = new Int32Array(n);
      b.set(a);
      return b;
    };
    this.keyStarts = grow(this.keyStarts);
    this.keyEnds = grow(this.keyEnds);
    this.keyUp = grow(this.keyUp);
  }

  /** flush_all: to every member of the ring (draining ones too); OK when all said OK. */
  private flushAll(c: DispatchClient, buf: Buffer, start: number, lineEnd: number, next: number, ntokens: number): number {
    const t = this.t;
    const slot = new Slot(null);
    slot.merge = MERGE_FANOUT;
    let strip = -1;
    const noreply = t.is(ntokens - 2, 'noreply');
    if (noreply) {
      if (ntokens > 3 && t.is(ntokens - 3, 'noreply')) return this.local(c, null, next);
      strip = ntokens - 2;
      slot.drop = DROP_ALL;
    }
    if (ntokens !== (noreply ? 3 : 2) && Number.isNaN(parseI32(buf, t.starts[1], t.ends[1]))) {
      return this.local(c, noreply ? null : R_BAD_EXPTIME, next);
    }
    const table = this.ctx.table();
    const targets = table === null ? [] : table.all;
    if (targets.length === 0) return this.local(c, noreply ? null : R_OK, next);
    const parts = targets.map(() => slot.addPart(REPLY_LINE));
    c.push(slot);
    const unavailable = [];
    for (let i = 0; i < targets.length; i++) {
      const u = targets[i]!;
      if (u.ejected) {
        unavailable.push(parts[i]!);
        continue;
      }
      writeLine(u.send(parts[i]!, clock.now, c.affinity), buf, start, lineEnd, strip, t);
    }
    for (const p of unavailable) p.fail(FAIL_EJECTED);
    return next;
  }

  /** A set whose value is too large removes the key's old value, as memcached does; nobody sees the reply. */
  private deleteQuietly(c: DispatchClient, buf: Buffer, ks: number, ke: number, binary: boolean): void {
    const n = binary && ke - ks <= KEY_MAX_LENGTH ? base64Decode(buf, ks, ke, this.keyScratch) : -1;
    const u = n > 0 ? this.route(this.keyScratch, 0, n) : this.route(buf, ks, ke);
    if (u === null) return;
    const slot = new Slot(null);
    slot.drop = DROP_ALL;
    const part = slot.addPart(REPLY_META);
    const out = u.send(part, clock.now, c.affinity).out;
    out.ascii('md ');
    appendBytes(out, buf, ks, ke);
    if (binary) out.ascii(' b');
    out.crlf();
  }

}

/** Appends the request line to an upstream connection, leaving out token `strip` when it is >= 0. */
function writeLine(conn: UpstreamConn, buf: Buffer, start: number, lineEnd: number, strip: number, t: Tokens): void {
  const out = conn.out;
  if (strip < 0) appendBytes(out, buf, start, lineEnd);
  else {
    appendBytes(out, buf, start, t.starts[strip]!);
    appendBytes(out, buf, t.ends[strip]!, lineEnd);
  }
  out.crlf();
}

