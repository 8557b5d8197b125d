/**
 * cachalot-server's dispatch of memcached's text and meta protocol (proto_text.c's process_command_ascii):
 * the one switch from a parsed request (protocol/parser.ts) to the file that executes its command family.
 * Where each command lives is also named in the parser's command table (protocol/commands.ts).
 *
 * Commands run while holding their key's shard lock, composing the store's primitives the way memcached
 * composes item_get/item_alloc/store_item/item_unlink; replies go into the session's OutBuf with
 * memcached's exact bytes (differential tests in test/integration/differential).
 */
import { performance } from 'node:perf_hooks';
import type { TieredStore } from '../store/tier.js';
import {
  CMD_ADD, CMD_APPEND, CMD_BGET, CMD_CACHE_MEMLIMIT, CMD_CAS, CMD_DECR, CMD_DELETE, CMD_FLUSH_ALL, CMD_GAT,
  CMD_GATS, CMD_GET, CMD_GETS, CMD_HTTP, CMD_INCR, CMD_LRU, CMD_LRU_CRAWLER, CMD_MA, CMD_MD, CMD_ME, CMD_MG, CMD_MN,
  CMD_MS, CMD_PREPEND, CMD_QUIT, CMD_REFRESH_CERTS, CMD_REPLACE, CMD_SET, CMD_SHUTDOWN, CMD_SLABS, CMD_STATS,
  CMD_TOUCH, CMD_VERBOSITY, CMD_VERSION, CMD_WATCH,
} from '../../protocol/commands.js';
import { MN, VERSION_LINE } from '../../protocol/replies.js';
import { C, type Counters, L } from '../metrics/counters.js';
import type { Clock } from '../../runtime/clock.js';
import type { StatsSource } from '../metrics/stats-source.js';
import { EngineContext, type EngineHooks, type EngineSettings } from './context.js';
import { NREAD_SET, WANT_CLOSE, WANT_NREAD, WANT_COMMAND, WANT_SWALLOW, type Session } from './session.js';
import { get, getOne } from './retrieval.js';
import {
  DIRECT_VALUE_MIN, STORE_NO_MEMORY, STORE_REPLIES, beginDirectValue, releaseDirectValue, storeItem, update,
} from './storage.js';
import { arithmetic } from './arithmetic.js';
import { remove, touch } from './delete-touch.js';
import { flushAll, lru, lruCrawler, memlimit, refreshCerts, shutdown, slabs, verbosity, watch } from './admin.js';
import { NREAD_AUTH, type AsciiAuth } from './auth.js';
import type { PrefixStats } from '../metrics/prefix-stats.js';
import { stats } from './stats.js';
import { metaGet } from './meta-get.js';
import { finalizeMetaSet, metaSet } from './meta-set.js';
import { metaDelete } from './meta-delete.js';
import { metaArithmetic } from './meta-arithmetic.js';
import { metaDebug } from './meta-debug.js';

export { GET_YIELD_BYTES, MEMCACHED_ITEM_HEADER, ZERO_COPY_MIN } from './context.js';
export type { EngineHooks, EngineSettings } from './context.js';

/** The latency histogram each command is counted in, by command id. */
const LATENCY = new Uint8Array(64).fill(L.other);
for (const id of [CMD_GET, CMD_GETS, CMD_GAT, CMD_GATS, CMD_BGET]) LATENCY[id] = L.get;
for (const id of [CMD_SET, CMD_ADD, CMD_REPLACE, CMD_APPEND, CMD_PREPEND, CMD_CAS]) LATENCY[id] = L.set;
for (const id of [CMD_INCR, CMD_DECR]) LATENCY[id] = L.incr;
for (const id of [CMD_MG, CMD_MS, CMD_MD, CMD_MA, CMD_MN, CMD_ME]) LATENCY[id] = L.meta;
LATENCY[CMD_DELETE] = L.delete;
LATENCY[CMD_TOUCH] = L.touch;

export class TextEngine {
  /** -Y: the gate every line of a connection goes through until it authenticates. */
  auth: AsciiAuth | undefined = undefined;
  private readonly e: EngineContext;

  constructor(store: TieredStore, counters: Counters, clock: Clock, settings: EngineSettings, hooks: EngineHooks,
    statsSource: StatsSource) {
    this.e = new EngineContext(store, counters, clock, settings, hooks, statsSource);
  }

  /** `stats detail`'s table, shared by every worker thread (metrics/prefix-stats.ts). */
  set prefixes(prefixes: PrefixStats) {
    this.e.prefixes = prefixes;
  }

  /** Executes one request line buf[start, end) ("\r\n" already removed). */
  processLine(s: Session, buf: Buffer, start: number, end: number): void {
    if (this.auth !== undefined && !s.authenticated) {
      this.auth.line(s, buf, start, end);
      return;
    }
    const e = this.e;
    // "get <key>", the commonest request, without the tokenizer and the command table.
    if (buf[start] === 103 && buf[start + 1] === 101 && buf[start + 2] === 116 && buf[start + 3] === 32 &&
      end - start > 4 && getOne(e, s, buf, start + 4, end)) return;
    const req = e.parser.parseLine(buf, start, end);
    e.lineStart = start;
    e.lineEnd = end;
    e.now = e.clock.now();
    s.lastCommandTime = e.now;
    const cmd = req.cmd;
    s.noreply = req.noreply;
    if (req.error !== null && cmd !== CMD_FLUSH_ALL) {
      // A line too short to name a command is answered before memcached starts its latency clock.
      if (req.ntokens < 2 || e.t.length(0) < 2) {
        s.noreply = false;
        e.outString(s, req.error);
        return;
      }
      const begun = performance.now();
      e.outString(s, req.error);
      if (req.swallow > 0) {
        s.want = WANT_SWALLOW;
        s.swallowBytes = req.swallow;
      }
      e.counters.observe(LATENCY[cmd], (performance.now() - begun) * 1000);
      return;
    }
    const begun = performance.now();
    switch (cmd) {
      case CMD_GET: case CMD_BGET: get(e, s, false, false, false); break;
      case CMD_GETS: get(e, s, true, false, false); break;
      case CMD_GAT: get(e, s, false, true, false); break;
      case CMD_GATS: get(e, s, true, true, false); break;
      case CMD_SET: case CMD_ADD: case CMD_REPLACE: case CMD_APPEND: case CMD_PREPEND: case CMD_CAS:
        update(e, s, req);
        break;
      case CMD_INCR: case CMD_DECR: arithmetic(e, s, req); break;
      case CMD_DELETE: remove(e, s, req); break;
      case CMD_TOUCH: touch(e, s, req); break;
      case CMD_MG: metaGet(e, s, req); break;
      case CMD_MS: metaSet(e, s, req); break;
      case CMD_MD: metaDelete(e, s, req); break;
      case CMD_MA: metaArithmetic(e, s, req); break;
      case CMD_MN: e.outString(s, MN); break;
      case CMD_ME: metaDebug(e, s, req); break;
      case CMD_FLUSH_ALL: flushAll(e, s, req); break;
      case CMD_VERBOSITY: verbosity(e, s, req); break;
      case CMD_CACHE_MEMLIMIT: memlimit(e, s, req.ntokens); break;
      case CMD_SHUTDOWN: shutdown(e, s, req.ntokens); break;
      case CMD_SLABS: slabs(e, s, req.ntokens); break;
      case CMD_LRU: lru(e, s, req.ntokens); break;
      case CMD_LRU_CRAWLER: lruCrawler(e, s, req.ntokens); break;
      case CMD_WATCH: watch(e, s); break;
      case CMD_REFRESH_CERTS: refreshCerts(e, s); break;
      case CMD_STATS: stats(e, s, req.ntokens); break;
      case CMD_VERSION: e.outString(s, VERSION_LINE); break;
      case CMD_QUIT: s.closeAfterWrite = true; break;
      case CMD_HTTP:
        // A web request sent to the cache port: memcached drops the connection without a reply.
        s.want = WANT_CLOSE;
        break;
    }
    e.counters.observe(LATENCY[cmd], (performance.now() - begun) * 1000);
  }

  /** Continues a multi-get that yielded (WANT_GET_RESUME) on its line buf[start, end). */
  resumeGet(s: Session, buf: Buffer, start: number, end: number): void {
    const e = this.e;
    e.now = e.clock.now();
    e.lineStart = start;
    e.lineEnd = end;
    s.want = WANT_COMMAND;
    e.t.tokenize(buf, start + s.getResumeOffset, end);
    get(e, s, s.getReturnCas, s.getTouch, true);
  }

  /** The data block of a storage command (set...cas, ms) is complete: buf[start, start + s.nreadBytes). */
  completeNread(s: Session, buf: Buffer, start: number): void {
    if (s.nreadCmd === NREAD_AUTH && this.auth !== undefined) {
      this.auth.complete(s, buf, start);
      return;
    }
    const vlen = s.nreadBytes - 2;
    this.store(s, buf, start, buf[start + vlen] === 13 && buf[start + vlen + 1] === 10);
  }

  /**
   * WANT_NREAD and the data block has not all arrived: true when it is to be received straight into its
   * item (receiveDirect), false when the connection should stash it until it is complete.
   */
  beginDirect(s: Session): boolean {
    if (s.want !== WANT_NREAD || s.nreadBytes - 2 < DIRECT_VALUE_MIN || s.nreadCmd === NREAD_AUTH ||
      (this.auth !== undefined && !s.authenticated)) return false;
    this.e.now = this.e.clock.now();
    return beginDirectValue(this.e, s);
  }

  /**
   * Bytes buf[start, end) of a data block being received into its item (after beginDirect). Returns how
   * many were used; once the block is complete the item is stored and the session wants a command.
   */
  receiveDirect(s: Session, buf: Buffer, start: number, end: number): number {
    const view = s.directView!;
    const vlen = view.length;
    let got = s.directGot;
    let pos = start;
    if (got < vlen) {
      const n = Math.min(end - pos, vlen - got);
      buf.copy(view, got, pos, pos + n);
      got += n;
      pos += n;
    }
    // The "\r\n" after the value, which may arrive one byte at a time.
    while (pos < end && got < vlen + 2) {
      if (buf[pos] !== (got === vlen ? 13 : 10)) s.directBadEnd = true;
      got++;
      pos++;
    }
    s.directGot = got;
    if (got === vlen + 2) {
      s.want = WANT_COMMAND;
      this.store(s, null, 0, !s.directBadEnd);
    }
    return pos - start;
  }

  /**
   * `n` bytes of a data block being received (after beginDirect) were read by the socket straight into its
   * item, right after the `directGot` already there (never past the value: the "\r\n" comes through
   * receiveDirect).
   */
  receivedInPlace(s: Session, n: number): void {
    s.directGot += n;
  }

  /** The connection closed: a data block being received into its item is abandoned, never linked. */
  abandon(s: Session): void {
    releaseDirectValue(this.e, s);
  }

  /** The data block is complete (in vbuf, or in the session's direct item when vbuf is null): store it. */
  private store(s: Session, vbuf: Buffer | null, start: number, endOk: boolean): void {
    const e = this.e;
    e.now = e.clock.now();
    const counters = e.counters.row;
    counters[C.cmd_set]++;
    const vlen = s.nreadBytes - 2;
    const begun = performance.now();
    if (!endOk) {
      if (s.meta) s.noreply = false;
      e.outString(s, 'CLIENT_ERROR bad data chunk');
      releaseDirectValue(e, s);
      s.resetStorage();
      return;
    }
    const ret = storeItem(e, s, vbuf, start, vlen);
    releaseDirectValue(e, s);
    // memcached allocates before it stores: a set (or any ms) that finds no memory drops the key's old
    // value, so that it is not served stale after the client was told the write failed.
    if (ret === STORE_NO_MEMORY && (s.meta || s.nreadCmd === NREAD_SET)) e.unlinkKey(s.key, 0, s.keyLen);
    if (s.meta) finalizeMetaSet(e, s, ret);
    else e.outString(s, STORE_REPLIES[ret]);
    s.resetStorage();
    e.counters.observe(L.set, (performance.now() - begun) * 1000);
  }
}
