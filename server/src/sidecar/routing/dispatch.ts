/**
 * What the sidecar does with each request: parse it with the protocol's parser (protocol/parser.ts, the
 * one cachalot-server uses), so that both frame the byte stream the same way and answer a request the
 * server would reject before reading a data block with the same text, here, without forwarding it; then
 * route it by key, fan it out, or answer it here.
 *
 * Every forwarded request must get exactly one reply, so that the pipelined stream can be matched first-in
 * first-out: a classic `noreply` is removed from the forwarded line and the reply dropped here (DROP_ALL);
 * a quiet meta command goes as it is, followed by `mn` (request.ts REPLY_QUIET).
 *
 * During a ring transition (the table has `previous`) a key whose owner changed is a "moved" key: a write,
 * delete, touch or arithmetic of it also deletes it at its previous owner, and the client's reply waits for
 * that delete (MERGE_FIRST), so that no read after the reply can find the old copy and fill it back; a read
 * that misses at the owner is filled from the previous owner (routing/transition.ts). Outside a transition the
 * cost is one null check per keyed request (`this.prev`) and one per get.
 */
import { E_BAD_FORMAT, E_ERROR, E_TOO_LARGE, NEED_MORE, RequestParser } from '../../protocol/parser.js';
import {
  CMD_BGET, CMD_FLUSH_ALL, CMD_GAT, CMD_GATS, CMD_GET, CMD_GETS, CMD_HTTP, CMD_MA, CMD_MD, CMD_ME, CMD_MG, CMD_MN,
  CMD_MS, CMD_QUIT, CMD_SHUTDOWN, CMD_STATS, CMD_TOUCH, CMD_VERBOSITY, CMD_VERSION, isStorageCommand,
  CMD_DECR, CMD_DELETE, CMD_INCR, CMD_SET,
} from '../../protocol/commands.js';
import type { Request } from '../../protocol/request.js';
import { base64Decode } from '../../protocol/base64.js';
import { KEY_MAX_LENGTH, LINE_LIMIT } from '../../protocol/limits.js';
import { END, MN, OK, SHUTDOWN_NOT_ENABLED, VERSION_LINE, replyBytes } from '../../protocol/replies.js';
import {
  DROP_ALL, FAIL_EJECTED, MERGE_FANOUT, MERGE_FIRST, MERGE_GET, MERGE_WARM, REPLY_GET, REPLY_LINE, REPLY_META,
  REPLY_QUIET, Slot,
} from '../request.js';
import { FillGet, FillMeta, FillRegistry, keyName } from './transition.js';
import type { RoutingTable } from './table.js';
import type { Upstream } from '../upstream/upstream.js';
import type { UpstreamConn } from '../upstream/connection.js';
import { appendBytes } from '../copy.js';
import { clock } from '../eventclock.js';
import type { SidecarStats } from '../sidecar-stats.js';

export { NEED_MORE, LINE_TOO_LONG } from '../../protocol/parser.js';

const R_ERROR = replyBytes(E_ERROR);
const R_EJECTED = Buffer.from(FAIL_EJECTED, 'latin1');
const GET_HEADS = ['', 'get', 'gets', 'gat', 'gats', 'get']; // by CMD_GET..CMD_BGET

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
  /** false (--no-transition-fill): a moved key's miss stays a miss; its writes are still invalidated. */
  readonly transitionFill: boolean;
  statsReply(sub: string): Buffer | null;
}

export class Dispatcher {
  private readonly parser = new RequestParser();
  private readonly t = this.parser.tokens;
  private readonly keyScratch = Buffer.alloc(KEY_MAX_LENGTH + 8);
  private keyStarts: Int32Array<ArrayBuffer> = new Int32Array(64);
  private keyEnds: Int32Array<ArrayBuffer> = new Int32Array(64);
  private keyUp: Int32Array<ArrayBuffer> = new Int32Array(64);
  private readonly ups: Upstream[] = [];
  /** The last routed key's previous owner when it moved in the current transition (routeKey), else null. */
  private prev: Upstream | null = null;
  private readonly fills = new FillRegistry();

  constructor(private readonly ctx: DispatchContext) {}

  /**
   * Handles the request at buf[pos, end): returns the offset of the next request, NEED_MORE (its line or
   * data block has not all arrived: called again with more), or LINE_TOO_LONG (the client must be closed).
   */
  dispatch(c: DispatchClient, buf: Buffer, pos: number, end: number, maxGetLine: number): number {
    const next = this.parser.parse(buf, pos, end, maxGetLine);
    if (next < 0) return next;
    const req = this.parser.req;
    const cmd = req.cmd;
    const stats = this.ctx.stats;
    if (cmd === CMD_MG || cmd === CMD_MD || cmd === CMD_MA || cmd === CMD_ME) stats.cmd_meta++;
    else if (cmd === CMD_TOUCH) stats.cmd_touch++;
    else if (cmd === CMD_FLUSH_ALL) stats.cmd_flush++;
    const t = this.t;
    if (req.lineEnd - pos > LINE_LIMIT && req.ntokens >= 2 && t.length(0) >= 2 && t.first(0) !== 103 &&
      !(t.first(0) === 109 && t.length(0) === 2)) {
      // The server closes a client whose non-get line has no '\n' within 2 KiB; forwarding such a line
      // could get the shared upstream connection closed, so the sidecar closes this client instead.
      c.closeNow();
      return next;
    }
    if (req.error !== null) {
      this.local(c, req.noreply ? null : replyBytes(req.error), next);
      if (req.swallow > 0) c.swallow(req.swallow);
      return next;
    }
    switch (cmd) {
      case CMD_GET: case CMD_GETS: case CMD_GAT: case CMD_GATS: case CMD_BGET:
        return this.multiGet(c, buf, req, next);
      case CMD_INCR: case CMD_DECR: case CMD_TOUCH: case CMD_DELETE:
        return this.keyed(c, buf, req, next);
      case CMD_MG: case CMD_MD: case CMD_MA: case CMD_ME:
        return this.meta(c, buf, req, next);
      case CMD_MS:
        return this.metaSet(c, buf, req, next, end);
      case CMD_MN: return this.local(c, replyBytes(MN), next);
      case CMD_VERSION: return this.local(c, replyBytes(VERSION_LINE), next);
      case CMD_FLUSH_ALL: return this.flushAll(c, buf, req, next);
      case CMD_STATS:
        return this.local(c, this.ctx.statsReply(req.ntokens === 2 ? '' : t.text(1)) ?? R_ERROR, next);
      case CMD_QUIT:
        c.quit();
        return next;
      case CMD_VERBOSITY: return this.local(c, req.noreply ? null : replyBytes(OK), next);
      case CMD_SHUTDOWN: return this.local(c, replyBytes(SHUTDOWN_NOT_ENABLED), next);
      case CMD_HTTP:
        c.closeNow();
        return next;
      default:
        if (isStorageCommand(cmd)) return this.storage(c, buf, req, next, end);
        // Per-server administration (slabs, lru_crawler, cache_memlimit, watch, ...) has no meaning through
        // a proxy of many servers: unknown here, as any other command.
        return this.local(c, R_ERROR, next);
    }
  }

  private local(c: DispatchClient, bytes: Buffer | null, next: number): number {
    this.ctx.stats.local_replies++;
    c.local(bytes);
    return next;
  }

  /**
   * Routes by the request's key (a meta key decoded when it came in base64); sets `prev` to the key's previous
   * owner when it moved in the current transition.
   */
  private routeKey(req: Request): Upstream | null {
    const table = this.ctx.table();
    if (table === null) {
      this.prev = null;
      return null;
    }
    const u = table.route(req.keyBuf, req.keyStart, req.keyEnd, this.ctx.ejectedGeneration());
    this.prev = table.previous === null ? null : table.previousOwner(req.keyBuf, req.keyStart, req.keyEnd, u);
    return u;
  }

  /**
   * Sends a one-part request: the line without token `strip` (or -1), then `data` bytes of the input, then
   * `mn` for a quiet meta command (REPLY_QUIET).
   */
  private forward(c: DispatchClient, slot: Slot, u: Upstream | null, kind: number, buf: Buffer, req: Request,
    strip: number, dataStart: number, dataLen: number): void {
    if (u === null) {
      this.prev = null;
      slot.out = slot.missReply ?? (kind === REPLY_QUIET && slot.quietMiss ? null : R_EJECTED);
      this.ctx.stats.unrouted++;
      c.push(slot);
      slot.finish();
      return;
    }
    const part = slot.addPart(kind);
    c.push(slot);
    const conn = u.send(part, clock.now, c.affinity);
    writeLine(conn, buf, req.lineStart, req.lineEnd, strip, this.t.starts, this.t.ends);
    if (dataLen > 0) appendBytes(conn.out, buf, dataStart, dataStart + dataLen);
    if (kind === REPLY_QUIET) conn.out.ascii('mn\r\n');
    if (this.prev !== null) this.invalidate(c, slot, buf, req);
  }

  /**
   * A moved key was written: the slot also deletes it at its previous owner (this.prev) and answers with the
   * owner's reply once both replied, so the old copy is gone before the client hears of its write.
   */
  private invalidate(c: DispatchClient, slot: Slot, buf: Buffer, req: Request): void {
    const prev = this.prev!;
    this.prev = null;
    slot.merge = MERGE_FIRST;
    const out = prev.send(slot.addPart(REPLY_META), clock.now, c.affinity).out;
    out.ascii('md ');
    appendBytes(out, buf, this.t.starts[1], this.t.ends[1]);
    if (isMeta(req.cmd) && req.meta.keyBinary) out.ascii(' b');
    out.crlf();
    this.fills.wrote(req.keyBuf, req.keyStart, req.keyEnd);
    this.ctx.stats.transition_invalidations++;
  }

  /** incr, decr, touch, delete: one line, routed by its key. */
  private keyed(c: DispatchClient, buf: Buffer, req: Request, next: number): number {
    const slot = new Slot(null);
    let strip = -1;
    if (req.noreply) {
      // Forwarded without the token, so that the server answers and the reply can be matched.
      strip = req.ntokens - 2;
      slot.drop = DROP_ALL;
    }
    this.forward(c, slot, this.routeKey(req), REPLY_LINE, buf, req, strip, 0, 0);
    return next;
  }

  /** set, add, replace, append, prepend, cas: forwarded with their data once it has all arrived. */
  private storage(c: DispatchClient, buf: Buffer, req: Request, next: number, end: number): number {
    const vlen = req.vlen;
    if (vlen > this.ctx.maxItemSize) {
      // Too large for any server: answered here and the value discarded as it streams in. memcached also
      // drops the key's old value on a failed set, so the owner is asked to delete it.
      if (req.cmd === CMD_SET) this.deleteQuietly(c, buf, req);
      c.local(req.noreply ? null : replyBytes(E_TOO_LARGE));
      c.swallow(vlen + 2);
      return next;
    }
    // A line whose value has not all arrived is dispatched again when more comes: counted once it has.
    if (end - next < vlen + 2) return NEED_MORE;
    this.ctx.stats.cmd_set++;
    const slot = new Slot(null);
    let strip = -1;
    if (req.noreply) {
      strip = req.ntokens - 2;
      slot.drop = DROP_ALL;
    }
    this.forward(c, slot, this.routeKey(req), REPLY_LINE, buf, req, strip, next, vlen + 2);
    return next + vlen + 2;
  }

  /** mg, md, ma, me: one line routed by key. */
  private meta(c: DispatchClient, buf: Buffer, req: Request, next: number): number {
    const slot = new Slot(null);
    const quiet = req.cmd !== CMD_ME && req.meta.noReply;
    const kind = quiet ? REPLY_QUIET : REPLY_META;
    const u = this.routeKey(req);
    if (req.cmd === CMD_MG) {
      // Without its owner a get is a miss, which quiet mode hides.
      slot.quietMiss = quiet;
      if (!quiet) slot.missReply = this.metaMiss(buf, req);
      if (this.prev !== null && u !== null) {
        if (this.ctx.transitionFill) this.fillMeta(c, slot, u, kind, buf, req);
        else this.prev = null; // a read: nothing to invalidate at the previous owner
      }
    } else if (req.cmd === CMD_ME) this.prev = null; // debug output, not a write
    this.forward(c, slot, u, kind, buf, req, -1, 0, 0);
    return next;
  }

  /** mg of a moved key: a miss at its owner is filled from its previous owner (this.prev). */
  private fillMeta(c: DispatchClient, slot: Slot, owner: Upstream, kind: number, buf: Buffer, req: Request): void {
    const previous = this.prev!;
    this.prev = null;
    const fill = FillGet.keyFill(this.fills, keyName(req.keyBuf, req.keyStart, req.keyEnd), owner, previous);
    if (fill === null) return;
    const t = this.t;
    const line = Buffer.from(buf.subarray(req.lineStart, req.lineEnd));
    slot.merge = MERGE_WARM;
    slot.continuation = new FillMeta(this.fills, this.ctx.stats, c.affinity, fill, line, t.starts[1] - req.lineStart,
      t.ends[1] - req.lineStart, req.meta.keyBinary, kind);
  }

  /** ms: forwarded with its data once it has all arrived; a value too large for any server is answered here. */
  private metaSet(c: DispatchClient, buf: Buffer, req: Request, next: number, end: number): number {
    const vlen = req.vlen;
    if (vlen > this.ctx.maxItemSize) {
      this.deleteQuietly(c, buf, req);
      c.local(replyBytes(E_TOO_LARGE));
      c.swallow(vlen + 2);
      return next;
    }
    if (end - next < vlen + 2) return NEED_MORE;
    this.ctx.stats.cmd_meta++;
    const slot = new Slot(null);
    const kind = req.meta.noReply ? REPLY_QUIET : REPLY_META;
    this.forward(c, slot, this.routeKey(req), kind, buf, req, -1, next, vlen + 2);
    return next + vlen + 2;
  }

  /** mg's miss reply with its O and k flags echoed, for when the owner cannot be asked. */
  private metaMiss(buf: Buffer, req: Request): Buffer | null {
    const t = this.t;
    let extra = '';
    for (let i = 2; i < req.ntokens - 1; i++) {
      const f = buf[t.starts[i]];
      if (f === 79) extra += ' ' + t.text(i);
      else if (f === 107) extra += ' k' + t.text(1) + (req.meta.keyBinary ? ' b' : '');
    }
    return extra === '' ? null : Buffer.from('EN' + extra + '\r\n', 'latin1');
  }

  /**
   * The keys of a multi-get, past 23 tokens too, into keyStarts/keyEnds/keyUp (the owner's index in `ups`,
   * -1 when unrouted), and with `prevs` each key's previous owner during a transition. Returns the key count,
   * or -1 for a key longer than memcached allows.
   */
  private collectKeys(buf: Buffer, req: Request, table: RoutingTable | null, prevs: Array<Upstream | null> | null): number {
    const t = this.t;
    const generation = this.ctx.ejectedGeneration();
    const ups = this.ups;
    ups.length = 0;
    let nkeys = 0;
    let k = req.firstKey;
    for (let guard = 0; guard < 1 << 20; guard++) {
      const last = t.count - 1;
      for (; k < last; k++) {
        const ks = t.starts[k];
        const ke = t.ends[k];
        if (ke - ks > KEY_MAX_LENGTH) return -1;
        if (nkeys === this.keyStarts.length) this.growKeys();
        const u = table === null ? null : table.route(buf, ks, ke, generation);
        let ui = -1;
        if (u !== null) {
          ui = ups.indexOf(u);
          if (ui < 0) ui = ups.push(u) - 1;
        }
        if (prevs !== null) prevs.push(u === null ? null : table!.previousOwner(buf, ks, ke, u));
        this.keyStarts[nkeys] = ks;
        this.keyEnds[nkeys] = ke;
        this.keyUp[nkeys] = ui;
        nkeys++;
      }
      if (t.rest < 0) break;
      t.tokenize(buf, t.rest, req.lineEnd);
      k = 0;
    }
    return nkeys;
  }

  /** get, gets, gat, gats, bget: keys split per owner, one request per upstream, replies merged in key order. */
  private multiGet(c: DispatchClient, buf: Buffer, req: Request, next: number): number {
    const table = this.ctx.table();
    if (table !== null && table.previous !== null && this.ctx.transitionFill) return this.fillGet(c, buf, req, next, table);
    const t = this.t;
    const stats = this.ctx.stats;
    const firstKey = req.firstKey;
    if (req.ntokens === 3 && firstKey === 1 && t.rest < 0) return this.singleGet(c, buf, req, next, table);
    const ups = this.ups;
    const nkeys = this.collectKeys(buf, req, table, null);
    if (nkeys < 0) return this.local(c, replyBytes(E_BAD_FORMAT), next);
    stats.cmd_get += nkeys;
    const slot = new Slot(null);
    slot.merge = MERGE_GET;
    let misses = 0;
    for (let i = 0; i < nkeys; i++) if (this.keyUp[i] < 0) misses++;
    stats.unrouted += misses;
    if (ups.length === 0) {
      slot.out = replyBytes(END);
      c.push(slot);
      slot.finish();
      return next;
    }
    if (ups.length === 1 && misses === 0) {
      // Every key on one server (always, with one member): the request goes as it came.
      const part = slot.addPart(REPLY_GET);
      c.push(slot);
      const conn = ups[0]!.send(part, clock.now, c.affinity);
      appendBytes(conn.out, buf, req.lineStart, req.lineEnd);
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
    const cmd = GET_HEADS[req.cmd]!;
    const head = firstKey === 2 ? `${cmd} ${t.text(1)}` : cmd;
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
  private singleGet(c: DispatchClient, buf: Buffer, req: Request, next: number, table: RoutingTable | null): number {
    const ks = req.keyStart;
    const ke = req.keyEnd;
    if (ke - ks > KEY_MAX_LENGTH) return this.local(c, replyBytes(E_BAD_FORMAT), next);
    const stats = this.ctx.stats;
    stats.cmd_get++;
    const slot = new Slot(null);
    slot.merge = MERGE_GET;
    const u = table === null ? null : table.route(buf, ks, ke, this.ctx.ejectedGeneration());
    if (u === null) {
      stats.unrouted++;
      slot.out = replyBytes(END);
      c.push(slot);
      slot.finish();
      return next;
    }
    const part = slot.addPart(REPLY_GET);
    c.push(slot);
    if (req.cmd === CMD_GET) {
      // get (not gets): may share one get line with the gets queued just before it (upstream/connection.ts).
      u.sendGet(part, clock.now, c.affinity, buf, ks, ke);
      return next;
    }
    const out = u.send(part, clock.now, c.affinity).out;
    appendBytes(out, buf, req.lineStart, req.lineEnd);
    out.crlf();
    return next;
  }

  /**
   * multiGet() during a transition: keys split per owner as outside one (always split, so that each key's reply
   * can be told apart), moved keys filled from their previous owners when they miss (routing/transition.ts).
   */
  private fillGet(c: DispatchClient, buf: Buffer, req: Request, next: number, table: RoutingTable): number {
    const t = this.t;
    const stats = this.ctx.stats;
    const firstKey = req.firstKey;
    // gat/gats: the exptime token, read before a long line's later keys are tokenized over it.
    const head = firstKey === 2 ? `${GET_HEADS[req.cmd]!} ${t.text(1)}` : GET_HEADS[req.cmd]!;
    const ups = this.ups;
    const prevs: Array<Upstream | null> = [];
    const nkeys = this.collectKeys(buf, req, table, prevs);
    if (nkeys < 0) return this.local(c, replyBytes(E_BAD_FORMAT), next);
    stats.cmd_get += nkeys;
    const slot = new Slot(null);
    slot.merge = MERGE_GET;
    for (let i = 0; i < nkeys; i++) if (this.keyUp[i] < 0) stats.unrouted++;
    if (ups.length === 0) {
      slot.out = replyBytes(END);
      c.push(slot);
      slot.finish();
      return next;
    }
    const base = this.keyStarts[0]!;
    slot.keyBytes = Buffer.from(buf.subarray(base, this.keyEnds[nkeys - 1]!));
    slot.keyOffsets = new Int32Array(nkeys * 2);
    slot.keyPart = new Int32Array(nkeys);
    const fills = new Array<ReturnType<typeof FillGet.keyFill>>(nkeys).fill(null);
    let filling = false;
    for (let i = 0; i < nkeys; i++) {
      slot.keyOffsets[2 * i] = this.keyStarts[i]! - base;
      slot.keyOffsets[2 * i + 1] = this.keyEnds[i]! - base;
      slot.keyPart[i] = this.keyUp[i]!;
      const previous = prevs[i];
      if (previous) {
        fills[i] = FillGet.keyFill(this.fills, buf.toString('latin1', this.keyStarts[i]!, this.keyEnds[i]!),
          ups[this.keyUp[i]!]!, previous);
        if (fills[i] !== null) filling = true;
      }
    }
    if (filling) {
      slot.merge = MERGE_WARM;
      slot.continuation = new FillGet(this.fills, stats, c.affinity, head, fills);
    }
    const parts = ups.map(() => slot.addPart(REPLY_GET));
    c.push(slot);
    for (let ui = 0; ui < ups.length; ui++) {
      const out = ups[ui]!.send(parts[ui]!, clock.now, c.affinity).out;
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
  private flushAll(c: DispatchClient, buf: Buffer, req: Request, next: number): number {
    const slot = new Slot(null);
    slot.merge = MERGE_FANOUT;
    let strip = -1;
    if (req.noreply) {
      strip = req.ntokens - 2;
      slot.drop = DROP_ALL;
    }
    const table = this.ctx.table();
    const targets = table === null ? [] : table.all;
    if (targets.length === 0) return this.local(c, req.noreply ? null : replyBytes(OK), next);
    const parts = targets.map(() => slot.addPart(REPLY_LINE));
    c.push(slot);
    const unavailable = [];
    for (let i = 0; i < targets.length; i++) {
      const u = targets[i]!;
      if (u.ejected) {
        unavailable.push(parts[i]!);
        continue;
      }
      writeLine(u.send(parts[i]!, clock.now, c.affinity), buf, req.lineStart, req.lineEnd, strip, this.t.starts, this.t.ends);
    }
    for (const p of unavailable) p.fail(FAIL_EJECTED);
    return next;
  }

  /** A set whose value is too large removes the key's old value, as memcached does; nobody sees the reply. */
  private deleteQuietly(c: DispatchClient, buf: Buffer, req: Request): void {
    const u = this.routeKey(req);
    if (u === null) return;
    const prev = this.prev;
    this.prev = null;
    for (const target of prev === null ? [u] : [u, prev]) {
      const slot = new Slot(null);
      slot.drop = DROP_ALL;
      const part = slot.addPart(REPLY_META);
      const out = target.send(part, clock.now, c.affinity).out;
      out.ascii('md ');
      appendBytes(out, buf, this.t.starts[1], this.t.ends[1]);
      if (req.cmd === CMD_MS && req.meta.keyBinary) out.ascii(' b');
      out.crlf();
    }
    if (prev !== null) this.fills.wrote(req.keyBuf, req.keyStart, req.keyEnd);
  }
}

function isMeta(cmd: number): boolean {
  return cmd === CMD_MD || cmd === CMD_MA || cmd === CMD_MS || cmd === CMD_MG || cmd === CMD_ME;
}

/** Appends the request line to an upstream connection, leaving out token `strip` when it is >= 0. */
function writeLine(conn: UpstreamConn, buf: Buffer, start: number, lineEnd: number, strip: number,
  starts: Int32Array, ends: Int32Array): void {
  const out = conn.out;
  if (strip < 0) appendBytes(out, buf, start, lineEnd);
  else {
    appendBytes(out, buf, start, starts[strip]!);
    appendBytes(out, buf, ends[strip]!, lineEnd);
  }
  out.crlf();
}
