/**
 * memcached's text and meta protocol (proto_text.c of memcached 1.6) over the Store interface.
 *
 * Each command is executed while holding its key's shard lock, composing the store's primitives the way
 * memcached composes item_get/item_alloc/store_item/item_unlink; replies are written into the session's
 * OutBuf. The dispatch, token-count checks and error texts follow proto_text.c line by line, because
 * clients and tools depend on the exact bytes (differential tests in test/integration/differential).
 */
import { performance } from 'node:perf_hooks';
import type { Store } from '../store/types.js';
import { ITEM_FETCHED, ITEM_KEY_BINARY, ITEM_STALE, ITEM_TOKEN_SENT, NO_ITEM } from '../store/types.js';
import { Tokens } from '../../protocol/tokenize.js';
import { parseI32, parseU32, parseU64, parseU64Big } from '../../protocol/numbers.js';
import { base64Decode, base64Encode } from '../../protocol/base64.js';
import {
  KEY_MAX_LENGTH, MFLAG_MAX_OPAQUE_LENGTH, MFLAG_MAX_OPT_LENGTH,
} from '../../protocol/limits.js';
import { C, Counters, L } from '../metrics/counters.js';
import { Clock } from '../../runtime/clock.js';
import {
  WANT_COMMAND, NREAD_ADD, NREAD_APPEND, NREAD_CAS, NREAD_PREPEND, NREAD_REPLACE, NREAD_SET, Session,
  WANT_CLOSE, WANT_GET_RESUME, WANT_NREAD, WANT_SWALLOW,
} from './session.js';

/**
 * A multi-get yields to the connection once its replies pass this size, so that one line naming a large
 * value thousands of times can't build an unbounded reply: the connection sends what there is (and waits
 * for a slow reader to catch up) before the get continues with its next key.
 */
export const GET_YIELD_BYTES = 1024 * 1024;
/**
 * Values this large are sent from shared memory without a copy (measured with 1 MB values, 50 connections:
 * copying them into the reply buffer took a third of the server's CPU). Smaller ones are copied: a pin,
 * a separate iovec and a later release cost more than a copy of a few KiB.
 */
export const ZERO_COPY_MIN = 64 * 1024;

/** Promotion filter (seenOnFlashBefore): 64 Ki bits, cleared after 16 Ki marks (~1/4 of them set). */
const FLASH_SEEN_BITS = 1 << 16;
const FLASH_SEEN_WINDOW = 1 << 14;
import type { StatsSource } from '../metrics/stats-source.js';
import { FlashHit, type FlashTier } from '../flash/types.js';
import type { PendingRead } from './session.js';
import { writeStats } from './stats-reply.js';
import { NREAD_AUTH, type AsciiAuth } from './auth.js';

/**
 * memcached's per-item overhead in ITEM_ntotal (its -I limit and `me` size=): sizeof(item), 48 bytes on
 * 64-bit, plus the 8-byte CAS it stores with every item when CAS is on (the default).
 */
export const MEMCACHED_ITEM_HEADER = 48 + 8;

export interface EngineSettings {
  maxItemSize: number;
  shutdownEnabled: boolean;
  flushEnabled: boolean;
  version: string;
}

export interface EngineHooks {
  /** shutdown (-A): graceful is memcached's "shutdown graceful". */
  shutdown(graceful: boolean): void;
  setVerbosity(level: number): void;
  /** refresh_certs: undefined when the certificate files were reloaded, else memcached's error text. */
  refreshCerts?(): string | undefined;
}

const TWO_POW_64 = 1n << 64n;
const U64_MASK = TWO_POW_64 - 1n;

/** Parsed meta flags (memcached's struct _meta_flags), reused for every meta command. */
class MetaFlags {
  hasError = false;
  noUpdate = false;
  locked = false;
  vivify = false;
  la = false;
  value = false;
  setStale = false;
  noReply = false;
  hasCas = false;
  newTtl = false;
  keyBinary = false;
  mode = 0;
  exptime = 0;
  autovivExptime = 0;
  recacheTime = 0;
  clientFlags = 0;
  reqCas: number | bigint = 0;
  delta = 1n;
  initial = 0n;
  errstr = '';

  reset(): void {
    this.hasError = this.noUpdate = this.locked = this.vivify = this.la = this.value = false;
    this.setStale = this.noReply = this.hasCas = this.newTtl = this.keyBinary = false;
    this.mode = this.exptime = this.autovivExptime = this.recacheTime = this.clientFlags = 0;
    this.reqCas = 0;
    this.delta = 1n;
    this.initial = 0n;
    this.errstr = '';
  }
}

export class TextEngine {
  /** -Y: the gate every line of a connection goes through until it authenticates. */
  auth: AsciiAuth | undefined = undefined;
  private readonly t = new Tokens();
  private readonly of = new MetaFlags();
  private readonly seen = new Uint8Array(128);
  /** A decoded (base64) meta key lives here; memcached decodes in place. */
  private readonly keyScratch = Buffer.alloc(KEY_MAX_LENGTH + 8);
  private readonly unpinSegment = (segment: number): void => this.store.unpinSegment(segment);
  private keyBuf: Buffer = this.keyScratch;
  private keyStart = 0;
  private keyEnd = 0;
  private now = 0;
  /** End of the current request line, for multi-get continuation past 23 keys. */
  private lineEnd = 0;
  private lineStart = 0;

  /** "VALUE key flags bytes [cas]\r\n<data>\r\n" for a RAM item, and the read bump. Lock held. */
  private writeValueReply(s: Session, ref: number, kb: Uint8Array, ks: number, ke: number, returnCas: boolean): void {
    const store = this.store;
    const out = s.out;
    const vlen = store.itemValueLength(ref);
    out.ensure(ke - ks + 64 + (vlen >= ZERO_COPY_MIN ? 0 : vlen));
    out.ascii('VALUE ');
    out.bytes(kb, ks, ke);
    out.byte(32);
    out.uint(store.itemFlags(ref));
    out.byte(32);
    out.uint(vlen);
    if (returnCas) {
      out.byte(32);
      out.uint(store.itemCas(ref));
    }
    out.crlf();
    // A large value goes to the socket straight from shared memory, its segment pinned until the write
    // completes (memcached's iovec pointing into the item, with the item's refcount held). Not while
    // flash reads are pending: their replies are patched into `out.buf` by position.
    const pin = vlen >= ZERO_COPY_MIN && s.pendingReads.length === 0 ? store.pinValue(ref) : -1;
    if (pin >= 0) {
      if (out.unpin === undefined) out.unpin = this.unpinSegment;
      out.ref(store.valueView(ref), pin);
    } else {
      out.ensure(vlen);
      store.copyValue(ref, out.buf, out.pos);
      out.pos += vlen;
    }
    out.crlf();
    store.touchAccess(ref, this.now);
  }

  constructor(
    private readonly store: Store,
    private readonly counters: Counters,
    private readonly clock: Clock,
    private readonly settings: EngineSettings,
    private readonly hooks: EngineHooks,
    private readonly statsSource: StatsSource,
    private readonly flash?: FlashTier,
  ) {}

  private readonly flashHit = new FlashHit();

  // ---------------------------------------------------------------- flash tier

  /**
   * find() that also brings a flash item back into RAM, synchronously, for the commands that change an
   * item rather than read it (incr/decr, append/prepend, touch, ma, md I, mg with T/N/R/h/l). Gets use the
   * asynchronous path instead. Called with the lock held.
   */
  private findLive(h: number, kb: Uint8Array, ks: number, ke: number): number {
    const store = this.store;
    const ref = store.find(h, kb, ks, ke, this.now);
    const flash = this.flash;
    if (ref !== NO_ITEM || flash === undefined) return ref;
    const hit = this.flashHit;
    if (!flash.lookup(h, kb, ks, ke, this.now, hit)) return NO_ITEM;
    const value = flash.readSync(hit, kb, ks, ke);
    flash.invalidate(h, kb, ks, ke);
    if (value === null || value.length !== hit.valueLength) return NO_ITEM;
    return this.promote(h, kb, ks, ke, hit, value);
  }

  /** Links a flash item's value into RAM with its flags, exptime and CAS. Lock held. */
  private promote(h: number, kb: Uint8Array, ks: number, ke: number, hit: FlashHit, value: Uint8Array): number {
    const store = this.store;
    const fresh = store.alloc(h, kb, ks, ke, hit.flags, hit.exptime, value.length, this.now);
    if (fresh === NO_ITEM) return NO_ITEM;
    if (value.length > 0) store.valueView(fresh).set(value);
    store.link(h, fresh, this.now);
    store.setCas(fresh, hit.cas);
    this.flash?.countRecache?.();
    return fresh;
  }

  /** True when the key has a flash copy (lock held); leaves its metadata in this.flashHit. */
  private onFlash(h: number, kb: Uint8Array, ks: number, ke: number): boolean {
    return this.flash !== undefined && this.flash.lookup(h, kb, ks, ke, this.now, this.flashHit);
  }

  /**
   * Reserves the value's bytes in the reply buffer (the header is already written from replyStart) and
   * starts the asynchronous read. The reply keeps its place in the pipeline: the connection sends nothing
   * until every reserved value has landed; a failed read removes the whole reply and counts a miss.
   */
  private readFromFlash(s: Session, h: number, kb: Uint8Array, ks: number, ke: number, replyStart: number,
    promoteOnHit: boolean): void {
    const flash = this.flash!;
    const out = s.out;
    const vlen = this.flashHit.valueLength;
    out.ensure(vlen + 2);
    const rec: PendingRead = { epoch: s.outEpoch, replyStart, valueStart: out.pos, valueLength: vlen, trailer: 2 };
    out.pos += vlen;
    out.crlf();
    s.pendingReads.push(rec);
    const hit = new FlashHit().copyFrom(this.flashHit);
    const key = Buffer.from(kb.subarray(ks, ke));
    flash.read(hit, key, 0, key.length, (value) => this.readLanded(s, rec, h, key, hit, value, promoteOnHit));
  }

  /**
   * Admission filter for promotion: a flash item comes back to RAM on its second read within a window,
   * not its first. Promoting every flash hit evicts another RAM item per hit (which goes back to flash):
   * measured in bench/flash.mjs with uniform reads over 32x the RAM tier, 393,415 items were rewritten to
   * flash during 402,256 reads. One bit per hash bucket, per thread; cleared after FLASH_SEEN_WINDOW
   * marks so that "recently" stays recent.
   */
  private seenOnFlashBefore(h: number): boolean {
    const bit = (h ^ (h >>> 16)) & (FLASH_SEEN_BITS - 1);
    const seen = this.flashSeen;
    const byte = bit >>> 3;
    const mask = 1 << (bit & 7);
    if ((seen[byte] & mask) !== 0) return true;
    seen[byte] |= mask;
    if (++this.flashSeenMarks >= FLASH_SEEN_WINDOW) {
      seen.fill(0);
      this.flashSeenMarks = 0;
    }
    return false;
  }

  private readonly flashSeen = new Uint8Array(FLASH_SEEN_BITS / 8);
  private flashSeenMarks = 0;

  private readLanded(s: Session, rec: PendingRead, h: number, key: Buffer, hit: FlashHit, value: Buffer | null,
    promoteOnHit: boolean): void {
    const list = s.pendingReads;
    const i = list.indexOf(rec);
    if (i >= 0) list.splice(i, 1);
    const counters = this.counters.row;
    if (rec.epoch === s.outEpoch) {
      const out = s.out;
      if (value !== null && value.length === rec.valueLength) {
        value.copy(out.buf, rec.valueStart);
        counters[C.get_hits]++;
        if (promoteOnHit && this.seenOnFlashBefore(h)) {
          const store = this.store;
          this.now = this.clock.now();
          store.lock(h);
          try {
            if (store.find(h, key, 0, key.length, this.now) === NO_ITEM) this.promote(h, key, 0, key.length, hit, value);
          } finally {
            store.unlock(h);
          }
        }
      } else {
        // Remove the whole reply; later replies (and their reserved values) move up.
        const end = rec.valueStart + rec.valueLength + rec.trailer;
        const removed = end - rec.replyStart;
        out.buf.copy(out.buf, rec.replyStart, end, out.pos);
        out.pos -= removed;
        for (const other of list) {
          if (other.replyStart > rec.replyStart) {
            other.replyStart -= removed;
            other.valueStart -= removed;
          }
        }
        counters[C.get_misses]++;
      }
    }
    if (list.length === 0) s.onReadsDone?.();
  }

  /** memcached's process_refresh_certs_command: "OK" (noreply honoured), or the error text always. */
  private refreshCerts(s: Session, ntokens: number): void {
    this.setNoreplyMaybe(s, ntokens);
    const error = this.hooks.refreshCerts === undefined ? 'Error TLS not enabled' : this.hooks.refreshCerts();
    if (error === undefined) this.outString(s, 'OK');
    else this.outErr(s, error);
  }

  // ---------------------------------------------------------------- replies

  private outString(s: Session, str: string): void {
    if (s.noreply) {
      s.noreply = false;
      return;
    }
    s.out.ascii(str);
    s.out.crlf();
  }

  /** out_errstring(): errors of meta commands are sent even in quiet mode. */
  private outErr(s: Session, str: string): void {
    s.noreply = false;
    this.outString(s, str);
  }

  private setNoreplyMaybe(s: Session, ntokens: number): boolean {
    const i = ntokens - 2;
    if (i >= 0 && this.t.is(i, 'noreply')) s.noreply = true;
    return s.noreply;
  }

  // ---------------------------------------------------------------- dispatch

  /** Executes one request line buf[start, end) ("\r\n" already removed). */
  processLine(s: Session, buf: Buffer, start: number, end: number): void {
    if (this.auth !== undefined && !s.authenticated) {
      this.auth.line(s, buf, start, end);
      return;
    }
    // "get <key>", the commonest request, without the tokenizer and the command table.
    if (buf[start] === 103 && buf[start + 1] === 101 && buf[start + 2] === 116 && buf[start + 3] === 32 &&
      end - start > 4 && this.getOne(s, buf, start + 4, end)) return;
    const t = this.t;
    const ntokens = t.tokenize(buf, start, end);
    this.lineEnd = end;
    this.lineStart = start;
    s.noreply = false;
    this.now = this.clock.now();
    s.lastCommandTime = this.now;
    const begun = performance.now();
    let latency = L.other;

    if (ntokens < 2 || t.length(0) < 2) {
      this.outString(s, 'ERROR');
      return;
    }
    const first = t.first(0);
    const len0 = t.length(0);
    if (first === 109 /* m */ && len0 === 2) {
      latency = L.meta;
      switch (buf[t.starts[0] + 1]) {
        case 103: this.metaGet(s, ntokens); break; // mg
        case 115: this.metaSet(s, ntokens); break; // ms
        case 100: this.metaDelete(s, ntokens); break; // md
        case 110: this.outString(s, 'MN'); break; // mn
        case 97: this.metaArithmetic(s, ntokens); break; // ma
        case 101: this.metaDebug(s, ntokens); break; // me
        default: this.outString(s, 'ERROR');
      }
    } else if (first === 103 /* g */) {
      latency = L.get;
      if (ntokens < 3) this.outString(s, 'ERROR');
      else if (t.is(0, 'get')) this.get(s, false, false);
      else if (t.is(0, 'gets')) this.get(s, true, false);
      else if (t.is(0, 'gat')) this.get(s, false, true);
      else if (t.is(0, 'gats')) this.get(s, true, true);
      else this.outString(s, 'ERROR');
    } else if (first === 115 /* s */) {
      if (t.is(0, 'set')) {
        latency = L.set;
        if (ntokens !== 6 && ntokens !== 7) this.outString(s, 'ERROR');
        else this.update(s, ntokens, NREAD_SET, false);
      } else if (t.is(0, 'stats')) this.stats(s, ntokens);
      else if (t.is(0, 'shutdown')) this.shutdown(s, ntokens);
      else if (t.is(0, 'slabs')) this.slabs(s, ntokens);
      else this.outString(s, 'ERROR');
    } else if (first === 97 /* a */) {
      latency = L.set;
      if (t.is(0, 'add') || t.is(0, 'append')) {
        if (ntokens !== 6 && ntokens !== 7) this.outString(s, 'ERROR');
        else this.update(s, ntokens, len0 === 3 ? NREAD_ADD : NREAD_APPEND, false);
      } else this.outString(s, 'ERROR');
    } else if (first === 99 /* c */) {
      if (t.is(0, 'cas')) {
        latency = L.set;
        if (ntokens !== 7 && ntokens !== 8) this.outString(s, 'ERROR');
        else this.update(s, ntokens, NREAD_CAS, true);
      } else if (t.is(0, 'cache_memlimit')) {
        if (ntokens !== 3 && ntokens !== 4) this.outString(s, 'ERROR');
        else this.memlimit(s, ntokens);
      } else this.outString(s, 'ERROR');
    } else if (first === 105 /* i */) {
      latency = L.incr;
      if (t.is(0, 'incr')) {
        if (ntokens !== 4 && ntokens !== 5) this.outString(s, 'ERROR');
        else this.arithmetic(s, ntokens, true);
      } else this.outString(s, 'ERROR');
    } else if (first === 100 /* d */) {
      if (t.is(0, 'delete')) {
        latency = L.delete;
        if (ntokens < 3 || ntokens > 5) this.outString(s, 'ERROR');
        else this.delete(s, ntokens);
      } else if (t.is(0, 'decr')) {
        latency = L.incr;
        if (ntokens !== 4 && ntokens !== 5) this.outString(s, 'ERROR');
        else this.arithmetic(s, ntokens, false);
      } else this.outString(s, 'ERROR');
    } else if (first === 116 /* t */) {
      latency = L.touch;
      if (t.is(0, 'touch')) {
        if (ntokens !== 4 && ntokens !== 5) this.outString(s, 'ERROR');
        else this.touch(s, ntokens);
      } else this.outString(s, 'ERROR');
    } else if (t.is(0, 'replace') || t.is(0, 'prepend')) {
      latency = L.set;
      if (ntokens !== 6 && ntokens !== 7) this.outString(s, 'ERROR');
      else this.update(s, ntokens, first === 114 ? NREAD_REPLACE : NREAD_PREPEND, false);
    } else if (t.is(0, 'bget')) {
      latency = L.get;
      if (ntokens < 3) this.outString(s, 'ERROR');
      else this.get(s, false, false);
    } else if (t.is(0, 'flush_all')) {
      if (ntokens < 2 || ntokens > 4) this.outString(s, 'ERROR');
      else this.flushAll(s, ntokens);
    } else if (t.is(0, 'version')) {
      this.outString(s, 'VERSION ' + this.settings.version);
    } else if (t.is(0, 'quit')) {
      s.closeAfterWrite = true;
    } else if (t.is(0, 'verbosity')) {
      if (ntokens !== 3 && ntokens !== 4) this.outString(s, 'ERROR');
      else this.verbosity(s, ntokens);
    } else if (t.is(0, 'refresh_certs')) {
      this.refreshCerts(s, ntokens);
    } else if (t.is(0, 'lru_crawler')) {
      this.lruCrawler(s, ntokens);
    } else if (t.is(0, 'watch')) {
      this.setNoreplyMaybe(s, ntokens);
      this.outString(s, 'CLIENT_ERROR watch commands not allowed');
    } else if (t.is(0, 'lru')) {
      if (ntokens < 3) this.outString(s, 'ERROR');
      else this.lru(s, ntokens);
    } else if (t.startsWith(ntokens - 2, 'HTTP/')) {
      // A web request sent to the cache port: memcached drops the connection without a reply.
      s.want = WANT_CLOSE;
    } else {
      this.outString(s, 'ERROR');
    }
    this.counters.observe(latency, (performance.now() - begun) * 1000);
  }

  // ---------------------------------------------------------------- retrieval

  /**
   * get with one key, buf[ks, ke): what get() does for it, when the line has exactly one key of a valid
   * length and the answer is in RAM (or there is no flash tier). Returns false, having done nothing the
   * general path would not redo, for anything else.
   */
  private getOne(s: Session, buf: Buffer, ks: number, ke: number): boolean {
    if (ke - ks > KEY_MAX_LENGTH) return false;
    for (let i = ks; i < ke; i++) {
      const c = buf[i];
      if (c === 32 || c === 0) return false;
    }
    const now = this.clock.now();
    this.now = now;
    const begun = performance.now();
    const store = this.store;
    const counters = this.counters.row;
    const h = store.hashKey(buf, ks, ke);
    store.lock(h);
    try {
      const ref = store.find(h, buf, ks, ke, now);
      if (ref === NO_ITEM) {
        if (this.flash !== undefined) return false;
        counters[C.get_misses]++;
      } else {
        this.writeValueReply(s, ref, buf, ks, ke, false);
        counters[C.get_hits]++;
      }
      counters[C.cmd_get]++;
    } finally {
      store.unlock(h);
    }
    s.lastCommandTime = now;
    s.noreply = false;
    s.out.ascii('END\r\n');
    this.counters.observe(L.get, (performance.now() - begun) * 1000);
    return true;
  }

  /** Continues a multi-get that yielded (WANT_GET_RESUME) on its line buf[start, end). */
  resumeGet(s: Session, buf: Buffer, start: number, end: number): void {
    this.now = this.clock.now();
    this.lineStart = start;
    this.lineEnd = end;
    s.want = WANT_COMMAND;
    this.t.tokenize(buf, start + s.getResumeOffset, end);
    this.get(s, s.getReturnCas, s.getTouch, true);
  }

  private get(s: Session, returnCas: boolean, shouldTouch: boolean, resumed = false): void {
    const t = this.t;
    const store = this.store;
    const counters = this.counters.row;
    const out = s.out;
    let exptime = resumed ? s.getExptime : 0;
    let k = resumed ? 0 : 1;
    if (shouldTouch && !resumed) {
      const e = parseI32(t.buf, t.starts[1], t.ends[1]);
      if (Number.isNaN(e)) {
        this.outString(s, 'CLIENT_ERROR invalid exptime argument');
        return;
      }
      exptime = this.clock.realtime(e, this.now);
      k = 2;
    }
    const now = this.now;
    for (let guard = 0; guard < 1 << 20; guard++) {
      const last = t.count - 1;
      for (; k < last; k++) {
        const ks = t.starts[k];
        const ke = t.ends[k];
        if (ke - ks > KEY_MAX_LENGTH) {
          // memcached's conn_release_items() drops every reply still queued on the connection, not just
          // this command's: the ones produced earlier in the same read go too.
          out.reset();
          s.outEpoch++;
          this.outString(s, 'CLIENT_ERROR bad command line format');
          return;
        }
        const buf = t.buf;
        const h = store.hashKey(buf, ks, ke);
        store.lock(h);
        try {
          const ref = store.find(h, buf, ks, ke, now);
          if (ref !== NO_ITEM) {
            if (shouldTouch) store.setExptime(ref, exptime);
            this.writeValueReply(s, ref, buf, ks, ke, returnCas);
            if (shouldTouch) {
              counters[C.cmd_touch]++;
              counters[C.touch_hits]++;
            } else {
              counters[C.get_hits]++;
              counters[C.cmd_get]++;
            }
          } else if (shouldTouch) {
            const promoted = this.flash !== undefined ? this.findLive(h, buf, ks, ke) : NO_ITEM;
            counters[C.cmd_touch]++;
            if (promoted !== NO_ITEM) {
              store.setExptime(promoted, exptime);
              this.writeValueReply(s, promoted, buf, ks, ke, returnCas);
              counters[C.touch_hits]++;
            } else counters[C.touch_misses]++;
          } else if (this.onFlash(h, buf, ks, ke)) {
            counters[C.cmd_get]++;
            const hit = this.flashHit;
            const replyStart = out.pos;
            out.ascii('VALUE ');
            out.bytes(buf, ks, ke);
            out.byte(32);
            out.uint(hit.flags);
            out.byte(32);
            out.uint(hit.valueLength);
            if (returnCas) {
              out.byte(32);
              out.uint(hit.cas);
            }
            out.crlf();
            this.readFromFlash(s, h, buf, ks, ke, replyStart, true);
          } else {
            counters[C.get_misses]++;
            counters[C.cmd_get]++;
          }
        } finally {
          store.unlock(h);
        }
        if (out.pos + out.refBytes >= GET_YIELD_BYTES && (k + 1 < last || t.rest >= 0)) {
          s.getResumeOffset = (k + 1 < last ? t.starts[k + 1] : t.rest) - this.lineStart;
          s.getReturnCas = returnCas;
          s.getTouch = shouldTouch;
          s.getExptime = exptime;
          s.want = WANT_GET_RESUME;
          return;
        }
      }
      if (t.rest < 0) break;
      // More than 23 keys: memcached tokenizes the rest of the line and carries on.
      t.tokenize(t.buf, t.rest, this.lineEnd);
      k = 0;
    }
    out.ascii('END\r\n');
  }


  // ---------------------------------------------------------------- storage

  private update(s: Session, ntokens: number, comm: number, handleCas: boolean): void {
    const t = this.t;
    const buf = t.buf;
    this.setNoreplyMaybe(s, ntokens);
    if (t.length(1) > KEY_MAX_LENGTH) {
      this.outString(s, 'CLIENT_ERROR bad command line format');
      return;
    }
    const flags = parseU32(buf, t.starts[2], t.ends[2]);
    const exptimeInt = Number.isNaN(flags) ? NaN : parseI32(buf, t.starts[3], t.ends[3]);
    const vlen = Number.isNaN(exptimeInt) ? NaN : parseI32(buf, t.starts[4], t.ends[4]);
    if (Number.isNaN(vlen)) {
      this.outString(s, 'CLIENT_ERROR bad command line format');
      return;
    }
    let cas: number | bigint = 0;
    if (handleCas) {
      cas = parseU64(buf, t.starts[5], t.ends[5]);
      if (typeof cas === 'number' && Number.isNaN(cas)) {
        this.outString(s, 'CLIENT_ERROR bad command line format');
        return;
      }
    }
    if (vlen < 0 || vlen > 2147483647 - 2) {
      this.outString(s, 'CLIENT_ERROR bad command line format');
      return;
    }
    const keyLen = t.length(1);
    if (!this.itemSizeOk(keyLen, flags, vlen)) {
      this.outString(s, 'SERVER_ERROR object too large for cache');
      this.counters.row[C.store_too_large]++;
      s.want = WANT_SWALLOW;
      s.swallowBytes = vlen + 2;
      // Avoid stale data persisting in cache because the new value could not be stored.
      if (comm === NREAD_SET) this.unlinkKey(buf, t.starts[1], t.ends[1]);
      return;
    }
    s.resetStorage();
    // A byte loop: Buffer.copy is a call into C++ (~60 ns) for the ~30 bytes of a typical key.
    const key = s.key;
    for (let i = 0, k = t.starts[1]; i < keyLen; i++, k++) key[i] = buf[k];
    s.keyLen = keyLen;
    s.flags = flags;
    s.exptime = this.clock.realtime(exptimeInt, this.now);
    s.cas = cas;
    s.nreadCmd = comm;
    s.nreadBytes = vlen + 2;
    s.want = WANT_NREAD;
  }

  /** memcached's item_size_ok(): ITEM_ntotal must fit -I. */
  private itemSizeOk(keyLen: number, flags: number, vlen: number): boolean {
    const ntotal = MEMCACHED_ITEM_HEADER + keyLen + 1 + vlen + 2 + (flags !== 0 ? 4 : 0);
    return ntotal <= this.settings.maxItemSize && vlen <= this.store.maxValueLength(keyLen);
  }

  private unlinkKey(buf: Uint8Array, ks: number, ke: number): void {
    const store = this.store;
    const h = store.hashKey(buf, ks, ke);
    store.lock(h);
    try {
      const ref = store.find(h, buf, ks, ke, this.now);
      if (ref !== NO_ITEM) store.unlink(h, ref);
      this.flash?.invalidate(h, buf, ks, ke);
    } finally {
      store.unlock(h);
    }
  }

  /** The data block of a storage command is complete: buf[start, start + s.nreadBytes). */
  completeNread(s: Session, buf: Buffer, start: number): void {
    if (s.nreadCmd === NREAD_AUTH && this.auth !== undefined) {
      this.auth.complete(s, buf, start);
      return;
    }
    this.now = this.clock.now();
    const counters = this.counters.row;
    counters[C.cmd_set]++;
    const vlen = s.nreadBytes - 2;
    const begun = performance.now();
    if (buf[start + vlen] !== 13 || buf[start + vlen + 1] !== 10) {
      if (s.meta) s.noreply = false;
      this.outString(s, 'CLIENT_ERROR bad data chunk');
      s.resetStorage();
      return;
    }
    const ret = this.storeItem(s, buf, start, vlen);
    if (s.meta) this.finalizeMetaSet(s, ret);
    else this.outString(s, STORE_REPLIES[ret]);
    s.resetStorage();
    this.counters.observe(L.set, (performance.now() - begun) * 1000);
  }

  /** memcached's do_store_item(), returning one of the STORE_* codes. */
  private storeItem(s: Session, vbuf: Buffer, vstart: number, vlen: number): number {
    const store = this.store;
    const key = s.key;
    const klen = s.keyLen;
    const now = this.now;
    const counters = this.counters.row;
    const comm = s.nreadCmd;
    const h = store.hashKey(key, 0, klen);
    store.lock(h);
    try {
      let old = store.find(h, key, 0, klen, now);
      if (old === NO_ITEM && this.flash !== undefined && comm !== NREAD_SET) {
        // The key may live on flash: add must see it; append/prepend/cas need its bytes or CAS in RAM.
        if (comm === NREAD_APPEND || comm === NREAD_PREPEND || comm === NREAD_CAS) old = this.findLive(h, key, 0, klen);
        else if (this.onFlash(h, key, 0, klen)) {
          if (comm === NREAD_ADD) return STORE_NOT_STORED;
          return this.writeItem(s, h, vbuf, vstart, vlen, s.flags, s.exptime, 0);
        }
      }
      const itCas = s.cas;
      if (old !== NO_ITEM) {
        const oldCas = store.itemCas(old);
        let casRes: number;
        if (itCas === 0 || itCas === 0n) casRes = CAS_NONE;
        else if (typeof itCas === 'number' && itCas === oldCas) casRes = CAS_MATCH;
        else if (s.setStale && itCas < oldCas) casRes = CAS_STALE;
        else casRes = CAS_BADVAL;

        switch (comm) {
          case NREAD_ADD:
            // add only adds a nonexistent item; memcached bumps the old one in its LRU, which neither
            // marks it fetched nor (within ITEM_UPDATE_INTERVAL) changes its access time.
            return STORE_NOT_STORED;
          case NREAD_CAS: {
            if (casRes === CAS_MATCH) {
              counters[C.cas_hits]++;
              return this.writeItem(s, h, vbuf, vstart, vlen, s.flags, s.exptime, 0);
            }
            if (casRes === CAS_STALE) {
              // Keeps the TTL and the stale/token bits of the item it replaces.
              counters[C.cas_hits]++;
              const bits = ITEM_STALE | (store.itemBits(old) & ITEM_TOKEN_SENT);
              return this.writeItem(s, h, vbuf, vstart, vlen, s.flags, store.itemExptime(old), bits);
            }
            counters[C.cas_badval]++;
            return STORE_EXISTS;
          }
          case NREAD_APPEND:
          case NREAD_PREPEND: {
            if (casRes !== CAS_NONE && casRes !== CAS_MATCH) return STORE_EXISTS;
            const oldLen = store.itemValueLength(old);
            const flags = store.itemFlags(old);
            const exptime = store.itemExptime(old);
            const total = oldLen + vlen;
            if (!this.itemSizeOk(klen, flags, total)) return STORE_NOT_STORED;
            // The old value must be copied out first: allocating may evict the segment it lives in.
            const joined = Buffer.allocUnsafe(total);
            if (comm === NREAD_APPEND) {
              store.copyValue(old, joined, 0);
              vbuf.copy(joined, oldLen, vstart, vstart + vlen);
            } else {
              vbuf.copy(joined, 0, vstart, vstart + vlen);
              store.copyValue(old, joined, vlen);
            }
            return this.writeItem(s, h, joined, 0, total, flags, exptime, 0);
          }
          default:
            return this.writeItem(s, h, vbuf, vstart, vlen, s.flags, s.exptime, 0);
        }
      }
      switch (comm) {
        case NREAD_ADD:
        case NREAD_SET:
          return this.writeItem(s, h, vbuf, vstart, vlen, s.flags, s.exptime, 0);
        case NREAD_CAS:
          counters[C.cas_misses]++;
          return STORE_NOT_FOUND;
        default:
          return STORE_NOT_STORED;
      }
    } finally {
      store.unlock(h);
    }
  }

  /** alloc + copy + link under the held lock; records the new CAS in the session for ms `c`. */
  private writeItem(s: Session, h: number, vbuf: Uint8Array, vstart: number, vlen: number, flags: number,
    exptime: number, bits: number): number {
    const store = this.store;
    const ref = store.alloc(h, s.key, 0, s.keyLen, flags, exptime, vlen, this.now);
    if (ref === NO_ITEM) {
      this.counters.row[C.store_no_memory]++;
      return STORE_NO_MEMORY;
    }
    store.writeValue(ref, vbuf, vstart);
    if (s.keyBinary) bits |= ITEM_KEY_BINARY;
    if (bits !== 0) store.setBits(ref, bits);
    store.link(h, ref, this.now);
    this.flash?.invalidate(h, s.key, 0, s.keyLen);
    s.cas = store.itemCas(ref);
    return STORE_STORED;
  }

  // ---------------------------------------------------------------- touch, delete, incr/decr

  private touch(s: Session, ntokens: number): void {
    const t = this.t;
    this.setNoreplyMaybe(s, ntokens);
    if (t.length(1) > KEY_MAX_LENGTH) {
      this.outString(s, 'CLIENT_ERROR bad command line format');
      return;
    }
    const e = parseI32(t.buf, t.starts[2], t.ends[2]);
    if (Number.isNaN(e)) {
      this.outString(s, 'CLIENT_ERROR invalid exptime argument');
      return;
    }
    const exptime = this.clock.realtime(e, this.now);
    const store = this.store;
    const h = store.hashKey(t.buf, t.starts[1], t.ends[1]);
    let hit = false;
    store.lock(h);
    try {
      const ref = this.findLive(h, t.buf, t.starts[1], t.ends[1]);
      if (ref !== NO_ITEM) {
        store.touchAccess(ref, this.now);
        store.setExptime(ref, exptime);
        hit = true;
      }
    } finally {
      store.unlock(h);
    }
    const counters = this.counters.row;
    counters[C.cmd_touch]++;
    counters[hit ? C.touch_hits : C.touch_misses]++;
    this.outString(s, hit ? 'TOUCHED' : 'NOT_FOUND');
  }

  private delete(s: Session, ntokens: number): void {
    const t = this.t;
    if (ntokens > 3) {
      const holdIsZero = t.is(2, '0');
      const setsNoreply = this.setNoreplyMaybe(s, ntokens);
      const valid = (ntokens === 4 && (holdIsZero || setsNoreply)) || (ntokens === 5 && holdIsZero && setsNoreply);
      if (!valid) {
        this.outString(s, 'CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]');
        return;
      }
    }
    if (t.length(1) > KEY_MAX_LENGTH) {
      this.outString(s, 'CLIENT_ERROR bad command line format');
      return;
    }
    const store = this.store;
    const h = store.hashKey(t.buf, t.starts[1], t.ends[1]);
    let hit = false;
    store.lock(h);
    try {
      const ref = store.find(h, t.buf, t.starts[1], t.ends[1], this.now);
      if (ref !== NO_ITEM) {
        store.unlink(h, ref);
        hit = true;
      }
      if (this.onFlash(h, t.buf, t.starts[1], t.ends[1])) {
        this.flash!.invalidate(h, t.buf, t.starts[1], t.ends[1]);
        hit = true;
      }
    } finally {
      store.unlock(h);
    }
    this.counters.row[hit ? C.delete_hits : C.delete_misses]++;
    this.outString(s, hit ? 'DELETED' : 'NOT_FOUND');
  }

  private arithmetic(s: Session, ntokens: number, incr: boolean): void {
    const t = this.t;
    this.setNoreplyMaybe(s, ntokens);
    if (t.length(1) > KEY_MAX_LENGTH) {
      this.outString(s, 'CLIENT_ERROR bad command line format');
      return;
    }
    const delta = parseU64Big(t.buf, t.starts[2], t.ends[2]);
    if (delta < 0n) {
      this.outString(s, 'CLIENT_ERROR invalid numeric delta argument');
      return;
    }
    const store = this.store;
    const h = store.hashKey(t.buf, t.starts[1], t.ends[1]);
    store.lock(h);
    let result: string;
    try {
      const r = this.addDelta(h, t.buf, t.starts[1], t.ends[1], incr, delta, 0);
      result = r.status === DELTA_OK ? r.value : '';
      switch (r.status) {
        case DELTA_OK: break;
        case DELTA_NON_NUMERIC: result = 'CLIENT_ERROR cannot increment or decrement non-numeric value'; break;
        case DELTA_EOM: result = 'SERVER_ERROR out of memory'; break;
        default:
          this.counters.row[incr ? C.incr_misses : C.decr_misses]++;
          result = 'NOT_FOUND';
      }
    } finally {
      store.unlock(h);
    }
    this.outString(s, result);
  }

  private readonly deltaResult = { status: 0, value: '', ref: NO_ITEM as number };

  /**
   * memcached's do_add_delta(), called with the lock held. A result that fits the old length keeps that
   * length, padded with spaces, as memcached's in-place update does ("5  " after decr of "100").
   */
  private addDelta(h: number, kbuf: Uint8Array, ks: number, ke: number, incr: boolean, delta: bigint,
    reqCas: number | bigint): { status: number; value: string; ref: number } {
    const store = this.store;
    const r = this.deltaResult;
    r.ref = NO_ITEM;
    r.value = '';
    const ref = this.findLive(h, kbuf, ks, ke);
    if (ref === NO_ITEM) {
      r.status = DELTA_NOT_FOUND;
      return r;
    }
    const len = store.itemValueLength(ref);
    if (len === 0) {
      r.status = DELTA_NON_NUMERIC;
      return r;
    }
    if (reqCas !== 0 && store.itemCas(ref) !== reqCas) {
      r.status = DELTA_CAS_MISMATCH;
      return r;
    }
    const value = parseU64Big(store.valueView(ref), 0, len);
    if (value < 0n) {
      r.status = DELTA_NON_NUMERIC;
      return r;
    }
    let next: bigint;
    if (incr) next = (value + delta) & U64_MASK;
    else next = delta > value ? 0n : value - delta;
    this.counters.row[incr ? C.incr_hits : C.decr_hits]++;
    const digits = next.toString();
    r.value = digits;
    if (digits.length <= len && !store.valueShared(ref)) {
      // memcached rewrites the digits in place, padded with spaces to the old length, with a new CAS
      // (unless another connection is still sending the item: then, like memcached with refcount > 2, a
      // new item).
      const view = store.valueView(ref);
      view.fill(32);
      for (let i = 0; i < digits.length; i++) view[i] = digits.charCodeAt(i);
      store.renewCas(h, ref);
      r.ref = ref;
      r.status = DELTA_OK;
      return r;
    }
    const fresh = store.alloc(h, kbuf, ks, ke, store.itemFlags(ref), store.itemExptime(ref), digits.length, this.now);
    if (fresh === NO_ITEM) {
      r.status = DELTA_EOM;
      return r;
    }
    const view = store.valueView(fresh);
    for (let i = 0; i < digits.length; i++) view[i] = digits.charCodeAt(i);
    store.link(h, fresh, this.now);
    r.ref = fresh;
    r.status = DELTA_OK;
    return r;
  }

  // ---------------------------------------------------------------- misc classic commands

  private flushAll(s: Session, ntokens: number): void {
    const t = this.t;
    this.setNoreplyMaybe(s, ntokens);
    this.counters.row[C.cmd_flush]++;
    if (!this.settings.flushEnabled) {
      this.outString(s, 'CLIENT_ERROR flush_all not allowed');
      return;
    }
    let exptime = 0;
    if (ntokens !== (s.noreply ? 3 : 2)) {
      exptime = parseI32(t.buf, t.starts[1], t.ends[1]);
      if (Number.isNaN(exptime)) {
        this.outString(s, 'CLIENT_ERROR invalid exptime argument');
        return;
      }
    }
    if (exptime > 0) {
      // Delayed: items last used at or before that second die once it arrives (settings.oldest_live).
      const oldestLive = this.clock.realtime(exptime, this.now) - 1;
      this.store.setOldestLive(oldestLive);
      this.flash?.setOldestLive(oldestLive);
    } else {
      this.store.flushAll(this.now);
      this.flash?.flushAll(this.now);
    }
    this.outString(s, 'OK');
  }

  private verbosity(s: Session, ntokens: number): void {
    const t = this.t;
    this.setNoreplyMaybe(s, ntokens);
    const level = parseU32(t.buf, t.starts[1], t.ends[1]);
    if (Number.isNaN(level)) {
      this.outString(s, 'CLIENT_ERROR bad command line format');
      return;
    }
    this.hooks.setVerbosity(level > 2 ? 2 : level);
    this.outString(s, 'OK');
  }

  private memlimit(s: Session, ntokens: number): void {
    const t = this.t;
    this.setNoreplyMaybe(s, ntokens);
    const mb = parseU32(t.buf, t.starts[1], t.ends[1]);
    if (Number.isNaN(mb)) this.outString(s, 'ERROR');
    else if (mb < 8) this.outString(s, 'MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m');
    else if (mb > 1000000000) this.outString(s, 'MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes');
    // The pool's address space is reserved at start (-o memory_reserve); the limit moves within it.
    else if (this.store.setMemoryLimit(mb * 1024 * 1024)) this.outString(s, 'OK');
    else this.outString(s, 'MEMLIMIT_ADJUST_FAILED out of bounds or unable to adjust');
  }

  private shutdown(s: Session, ntokens: number): void {
    if (!this.settings.shutdownEnabled) {
      this.outString(s, 'ERROR: shutdown not enabled');
      return;
    }
    if (ntokens === 2) {
      s.want = WANT_CLOSE;
      this.hooks.shutdown(false);
    } else if (ntokens === 3 && this.t.is(1, 'graceful')) {
      s.want = WANT_CLOSE;
      this.hooks.shutdown(true);
    } else {
      this.outString(s, 'CLIENT_ERROR invalid shutdown mode');
    }
  }

  private slabs(s: Session, ntokens: number): void {
    const t = this.t;
    if (ntokens === 5 && t.is(1, 'reassign')) {
      // There are no slab classes to move pages between: segments serve every item size.
      this.outString(s, 'CLIENT_ERROR slab reassignment disabled');
    } else if (ntokens >= 4 && t.is(1, 'automove')) {
      this.setNoreplyMaybe(s, ntokens);
      if (t.is(2, 'ratio')) {
        if (ntokens < 5 || Number.isNaN(Number(t.text(3)))) this.outString(s, 'ERROR');
        else this.outString(s, 'OK');
        return;
      }
      const level = parseU32(t.buf, t.starts[2], t.ends[2]);
      if (Number.isNaN(level)) this.outString(s, 'CLIENT_ERROR bad command line format');
      else if (level > 2) this.outString(s, 'ERROR');
      else this.outString(s, 'OK');
    } else {
      this.outString(s, 'ERROR');
    }
  }

  private lruCrawler(s: Session, ntokens: number): void {
    const t = this.t;
    if (ntokens === 4 && (t.is(1, 'crawl'))) {
      // Expired segments are dropped whole as allocation passes them; there is no crawl to start.
      this.outString(s, 'OK');
    } else if (ntokens === 4 && t.is(1, 'metadump')) {
      this.outString(s, 'ERROR metadump not allowed');
    } else if (ntokens === 4 && (t.is(1, 'tocrawl') || t.is(1, 'sleep'))) {
      const v = parseU32(t.buf, t.starts[2], t.ends[2]);
      if (Number.isNaN(v)) this.outString(s, 'CLIENT_ERROR bad command line format');
      else if (t.is(1, 'sleep') && v > 1000000) this.outString(s, 'CLIENT_ERROR sleep must be one second or less');
      else this.outString(s, 'OK');
    } else if (ntokens === 3 && (t.is(1, 'enable') || t.is(1, 'disable'))) {
      this.outString(s, 'OK');
    } else {
      this.outString(s, 'ERROR');
    }
  }

  private lru(s: Session, ntokens: number): void {
    this.setNoreplyMaybe(s, ntokens);
    // The segment store has no hot/warm/cold LRUs to tune; accept memcached's syntax, change nothing.
    const t = this.t;
    if ((t.is(1, 'tune') && ntokens >= 7) || ((t.is(1, 'mode') || t.is(1, 'temp_ttl')) && ntokens >= 4)) {
      this.outString(s, 'OK');
    } else {
      this.outString(s, 'ERROR');
    }
  }

  private stats(s: Session, ntokens: number): void {
    const t = this.t;
    if (ntokens === 2) {
      writeStats(s.out, this.statsSource, '');
      return;
    }
    if (t.is(1, 'reset')) {
      this.statsSource.reset();
      this.outString(s, 'RESET');
      return;
    }
    if (t.is(1, 'detail')) {
      if (ntokens < 4) this.outString(s, 'CLIENT_ERROR usage: stats detail on|off|dump');
      else if (t.is(2, 'on') || t.is(2, 'off')) this.outString(s, 'OK');
      else if (t.is(2, 'dump')) s.out.ascii('END\r\n');
      else this.outString(s, 'CLIENT_ERROR usage: stats detail on|off|dump');
      return;
    }
    if (t.is(1, 'cachedump')) {
      if (ntokens < 5) this.outString(s, 'CLIENT_ERROR bad command line');
      else s.out.ascii('END\r\n');
      return;
    }
    const sub = t.text(1);
    if (!writeStats(s.out, this.statsSource, sub)) this.outString(s, 'ERROR');
  }

  // ---------------------------------------------------------------- meta commands

  /**
   * _meta_flag_preparse(): validates flags from token `start`, rejecting duplicates, and decodes a base64
   * key into keyScratch. Sets this.keyBuf/keyStart/keyEnd to the key to use.
   */
  private metaPreparse(start: number): boolean {
    const t = this.t;
    const of = this.of;
    const seen = this.seen;
    seen.fill(0);
    of.reset();
    this.keyBuf = t.buf;
    this.keyStart = t.starts[1];
    this.keyEnd = t.ends[1];
    const last = t.count - 1;
    for (let i = start; i < last; i++) {
      const o = t.buf[t.starts[i]];
      const ts = t.starts[i] + 1;
      const te = t.ends[i];
      if (o >= 127 || seen[o] !== 0) {
        of.errstr = 'CLIENT_ERROR duplicate flag';
        return false;
      }
      seen[o] = 1;
      switch (o) {
        case 98: { // b
          const n = base64Decode(t.buf, t.starts[1], t.ends[1], this.keyScratch);
          if (n < 0) {
            of.errstr = 'CLIENT_ERROR error decoding key';
            of.hasError = true;
          } else {
            this.keyBuf = this.keyScratch;
            this.keyStart = 0;
            this.keyEnd = n;
          }
          of.keyBinary = true;
          break;
        }
        case 78: { // N
          of.locked = true;
          of.vivify = true;
          const v = parseI32(t.buf, ts, te);
          if (Number.isNaN(v)) {
            of.errstr = 'CLIENT_ERROR bad token in command line format';
            of.hasError = true;
          } else of.autovivExptime = this.clock.realtime(v, this.now);
          break;
        }
        case 84: { // T
          of.locked = true;
          const v = parseI32(t.buf, ts, te);
          if (Number.isNaN(v)) {
            of.errstr = 'CLIENT_ERROR bad token in command line format';
            of.hasError = true;
          } else {
            of.exptime = this.clock.realtime(v, this.now);
            of.newTtl = true;
          }
          break;
        }
        case 82: { // R
          of.locked = true;
          const v = parseI32(t.buf, ts, te);
          if (Number.isNaN(v)) {
            of.errstr = 'CLIENT_ERROR bad token in command line format';
            of.hasError = true;
          } else of.recacheTime = this.clock.realtime(v, this.now);
          break;
        }
        case 108: // l
          of.la = true;
          of.locked = true;
          break;
        case 79: case 80: case 76: // O P L
        case 107: case 115: case 116: case 99: case 102: // k s t c f
          break;
        case 118: // v
          of.value = true;
          break;
        case 104: // h
          of.locked = true;
          break;
        case 117: // u
          of.noUpdate = true;
          break;
        case 113: // q
          of.noReply = true;
          break;
        case 70: { // F
          const v = parseU32(t.buf, ts, te);
          if (Number.isNaN(v)) of.hasError = true;
          else of.clientFlags = v;
          break;
        }
        case 67: { // C
          const v = parseU64(t.buf, ts, te);
          if (typeof v === 'number' && Number.isNaN(v)) {
            of.errstr = 'CLIENT_ERROR bad token in command line format';
            of.hasError = true;
          } else {
            of.reqCas = v;
            of.hasCas = true;
          }
          break;
        }
        case 77: // M
          if (te - t.starts[i] !== 2) {
            of.errstr = 'CLIENT_ERROR incorrect length for M token';
            of.hasError = true;
          } else of.mode = t.buf[ts];
          break;
        case 74: { // J
          const v = parseU64Big(t.buf, ts, te);
          if (v < 0n) {
            of.errstr = 'CLIENT_ERROR invalid numeric initial value';
            of.hasError = true;
          } else of.initial = v;
          break;
        }
        case 68: { // D
          const v = parseU64Big(t.buf, ts, te);
          if (v < 0n) {
            of.errstr = 'CLIENT_ERROR invalid numeric delta value';
            of.hasError = true;
          } else of.delta = v;
          break;
        }
        case 73: // I
          of.setStale = true;
          break;
        default:
          of.errstr = 'CLIENT_ERROR invalid flag';
          return false;
      }
    }
    return !of.hasError;
  }

  /**
   * The O (opaque) and k (key) return tokens, in request order, as memcached writes them after EN, NF,
   * EX and md's codes. False when an opaque token is too long (nothing more written).
   */
  private opaqueAndKey(s: Session, kb: Uint8Array, ks: number, ke: number): boolean {
    const t = this.t;
    const out = s.out;
    const last = t.count - 1;
    for (let i = 2; i < last; i++) {
      const c = t.buf[t.starts[i]];
      if (c === 79) {
        if (t.length(i) > MFLAG_MAX_OPAQUE_LENGTH) return false;
        out.byte(32);
        out.bytes(t.buf, t.starts[i], t.ends[i]);
      } else if (c === 107) this.metaKey(s, kb, ks, ke, this.of.keyBinary);
    }
    return true;
  }

  /** META_KEY: the key as a return token, base64 again when it came in binary. */
  private metaKey(s: Session, kbuf: Uint8Array, ks: number, ke: number, binary: boolean): void {
    s.out.ascii(' k');
    if (!binary) s.out.bytes(kbuf, ks, ke);
    else {
      s.out.ascii(base64Encode(kbuf, ks, ke));
      s.out.ascii(' b');
    }
  }

  private metaGet(s: Session, ntokens: number): void {
    const t = this.t;
    const of = this.of;
    const out = s.out;
    const counters = this.counters.row;
    if (ntokens < 3) {
      this.outString(s, 'ERROR');
      return;
    }
    if (t.length(1) > KEY_MAX_LENGTH) {
      this.outErr(s, 'CLIENT_ERROR bad command line format');
      return;
    }
    if (ntokens > MFLAG_MAX_OPT_LENGTH) {
      this.outErr(s, 'CLIENT_ERROR options flags are too long');
      return;
    }
    if (!this.metaPreparse(2)) {
      this.outErr(s, of.errstr || 'CLIENT_ERROR bad command line format');
      return;
    }
    s.noreply = of.noReply;
    const kb = this.keyBuf;
    const ks = this.keyStart;
    const ke = this.keyEnd;
    const store = this.store;
    const now = this.now;
    const mark = out.pos;
    const last = t.count - 1;
    let ttlSet = false;
    let failed = false;
    let opaqueTooLong = false;
    let flashHit = false;
    const h = store.hashKey(kb, ks, ke);
    store.lock(h);
    try {
      let ref = of.locked ? this.findLive(h, kb, ks, ke) : store.find(h, kb, ks, ke, now);
      let created = false;
      let won = false;
      if (ref === NO_ITEM && !of.locked && this.onFlash(h, kb, ks, ke)) {
        opaqueTooLong = this.metaGetFromFlash(s, h, kb, ks, ke, mark);
        flashHit = !opaqueTooLong;
      } else
      if (ref === NO_ITEM && of.vivify) {
        ref = store.alloc(h, kb, ks, ke, 0, 0, 0, now);
        if (ref !== NO_ITEM) {
          store.link(h, ref, now);
          created = true;
        }
      }
      if (ref !== NO_ITEM) {
        const vlen = store.itemValueLength(ref);
        if (of.value) {
          out.ascii('VA ');
          out.uint(vlen);
        } else out.ascii('HD');
        for (let i = 2; i < last; i++) {
          switch (t.buf[t.starts[i]]) {
            case 84: // T
              ttlSet = true;
              store.setExptime(ref, of.exptime);
              break;
            case 78: // N
              if (created) {
                store.setExptime(ref, of.autovivExptime);
                won = true;
              }
              break;
            case 82: { // R
              const exp = store.itemExptime(ref);
              if ((store.itemBits(ref) & ITEM_TOKEN_SENT) === 0 && !created && exp !== 0 && exp < of.recacheTime) {
                won = true;
              }
              break;
            }
            case 115: // s
              out.ascii(' s');
              out.uint(vlen);
              break;
            case 116: { // t
              out.ascii(' t');
              const exp = store.itemExptime(ref);
              if (exp === 0) out.ascii('-1');
              else out.uint((exp - now) >>> 0);
              break;
            }
            case 99: // c
              out.ascii(' c');
              out.uint(store.itemCas(ref));
              break;
            case 102: // f
              out.ascii(' f');
              out.uint(store.itemFlags(ref));
              break;
            case 108: // l
              out.ascii(' l');
              out.uint((now - store.itemTime(ref)) >>> 0);
              break;
            case 104: // h
              out.ascii((store.itemBits(ref) & ITEM_FETCHED) !== 0 ? ' h1' : ' h0');
              break;
            case 79: // O
              if (t.length(i) > MFLAG_MAX_OPAQUE_LENGTH) {
                opaqueTooLong = true;
                break;
              }
              out.byte(32);
              out.bytes(t.buf, t.starts[i], t.ends[i]);
              break;
            case 107: // k
              this.metaKey(s, kb, ks, ke, (store.itemBits(ref) & ITEM_KEY_BINARY) !== 0);
              break;
          }
          if (opaqueTooLong) break;
        }
        if (!opaqueTooLong) {
          const bits = store.itemBits(ref);
          if ((bits & ITEM_TOKEN_SENT) !== 0) out.ascii(' Z');
          if ((bits & ITEM_STALE) !== 0) {
            out.ascii(' X');
            if ((bits & ITEM_TOKEN_SENT) === 0) won = true;
          }
          if (won) {
            out.ascii(' W');
            store.setBits(ref, bits | ITEM_TOKEN_SENT);
          }
          out.crlf();
          if (of.value) {
            out.ensure(vlen + 2);
            store.copyValue(ref, out.buf, out.pos);
            out.pos += vlen;
            out.crlf();
          }
          // Delayed bump, so that h and l report the state before this request.
          if (!of.noUpdate) store.touchAccess(ref, now);
        }
      } else {
        failed = true;
      }
    } finally {
      store.unlock(h);
    }
    if (opaqueTooLong) {
      out.pos = mark;
      this.outErr(s, 'CLIENT_ERROR opaque token too long');
      return;
    }
    if (flashHit) {
      // Counted as a hit or a miss when the value lands (or now, when no value was asked for).
      counters[C.cmd_get]++;
      if (!of.value) counters[C.get_hits]++;
      return;
    }
    if (!failed) {
      if (ttlSet) {
        counters[C.cmd_touch]++;
        counters[C.touch_hits]++;
      } else {
        counters[C.get_hits]++;
        counters[C.cmd_get]++;
      }
      return;
    }
    if (ttlSet) {
      counters[C.cmd_touch]++;
      counters[C.touch_misses]++;
    } else {
      counters[C.get_misses]++;
      counters[C.cmd_get]++;
    }
    out.ascii('EN');
    if (!this.opaqueAndKey(s, kb, ks, ke)) {
      out.pos = mark;
      this.outErr(s, 'CLIENT_ERROR opaque token too long');
      return;
    }
    out.crlf();
    // Quiet mode elides the miss.
    if (s.noreply) out.pos = mark;
  }

  /**
   * mg on a key that only the flash tier has (no flags that change the item): the header comes from the
   * flash index, the value (with v) is read asynchronously into its reserved place. Returns true when an
   * opaque token is too long (nothing written, nothing read). Lock held.
   */
  private metaGetFromFlash(s: Session, h: number, kb: Uint8Array, ks: number, ke: number, mark: number): boolean {
    const t = this.t;
    const of = this.of;
    const out = s.out;
    const hit = this.flashHit;
    const last = t.count - 1;
    if (of.value) {
      out.ascii('VA ');
      out.uint(hit.valueLength);
    } else out.ascii('HD');
    for (let i = 2; i < last; i++) {
      switch (t.buf[t.starts[i]]) {
        case 115: out.ascii(' s'); out.uint(hit.valueLength); break;
        case 116:
          out.ascii(' t');
          if (hit.exptime === 0) out.ascii('-1');
          else out.uint((hit.exptime - this.now) >>> 0);
          break;
        case 99: out.ascii(' c'); out.uint(hit.cas); break;
        case 102: out.ascii(' f'); out.uint(hit.flags); break;
        case 79:
          if (t.length(i) > MFLAG_MAX_OPAQUE_LENGTH) {
            out.pos = mark;
            return true;
          }
          out.byte(32);
          out.bytes(t.buf, t.starts[i], t.ends[i]);
          break;
        case 107: this.metaKey(s, kb, ks, ke, of.keyBinary); break;
      }
    }
    out.crlf();
    if (of.value) this.readFromFlash(s, h, kb, ks, ke, mark, !of.noUpdate);
    return false;
  }

  private metaSet(s: Session, ntokens: number): void {
    const t = this.t;
    const of = this.of;
    if (ntokens < 3) {
      this.outString(s, 'ERROR');
      return;
    }
    if (t.length(1) > KEY_MAX_LENGTH || ntokens === 3) {
      this.outErr(s, 'CLIENT_ERROR bad command line format');
      return;
    }
    if (ntokens > MFLAG_MAX_OPT_LENGTH) {
      this.outErr(s, 'CLIENT_ERROR options flags too long');
      return;
    }
    const vlen = parseI32(t.buf, t.starts[2], t.ends[2]);
    if (Number.isNaN(vlen) || vlen < 0 || vlen > 2147483647 - 2) {
      this.outErr(s, 'CLIENT_ERROR bad command line format');
      return;
    }
    let errstr = 'CLIENT_ERROR bad command line format';
    const swallow = (): void => {
      s.want = WANT_SWALLOW;
      s.swallowBytes = vlen + 2;
      this.outErr(s, errstr);
    };
    if (!this.metaPreparse(3)) {
      if (of.errstr) errstr = of.errstr;
      swallow();
      return;
    }
    s.noreply = of.noReply;
    s.resetStorage();
    let stash = '';
    let hasError = false;
    const last = t.count - 1;
    for (let i = 2; i < last; i++) {
      switch (t.buf[t.starts[i]]) {
        case 79:
          if (t.length(i) > MFLAG_MAX_OPAQUE_LENGTH) {
            errstr = 'CLIENT_ERROR opaque token too long';
            hasError = true;
            break;
          }
          stash += ' ' + t.text(i);
          break;
        case 107:
          stash += ' k';
          break;
        case 99:
          stash += ' c';
          break;
      }
    }
    let comm = NREAD_SET;
    switch (of.mode) {
      case 0: break;
      case 69: comm = NREAD_ADD; break; // E
      case 65: comm = NREAD_APPEND; break; // A
      case 80: comm = NREAD_PREPEND; break; // P
      case 82: comm = NREAD_REPLACE; break; // R
      case 83: comm = NREAD_SET; break; // S
      default:
        errstr = 'CLIENT_ERROR invalid mode for ms M token';
        swallow();
        return;
    }
    if (of.hasCas && (comm === NREAD_SET || comm === NREAD_REPLACE)) comm = NREAD_CAS;
    if (hasError) {
      swallow();
      return;
    }
    const keyLen = this.keyEnd - this.keyStart;
    if (!this.itemSizeOk(keyLen, of.clientFlags, vlen)) {
      errstr = 'SERVER_ERROR object too large for cache';
      this.counters.row[C.store_too_large]++;
      this.unlinkKey(this.keyBuf, this.keyStart, this.keyEnd);
      swallow();
      return;
    }
    this.keyBuf.copy(s.key, 0, this.keyStart, this.keyEnd);
    s.keyLen = keyLen;
    s.flags = of.clientFlags;
    s.exptime = of.exptime;
    s.cas = of.reqCas;
    s.meta = true;
    s.metaStash = stash;
    s.keyBinary = of.keyBinary;
    s.setStale = of.setStale && comm === NREAD_CAS;
    s.nreadCmd = comm;
    s.nreadBytes = vlen + 2;
    s.want = WANT_NREAD;
  }

  /** _finalize_mset(): status code, then the stashed O/k/c return flags in request order. */
  private finalizeMetaSet(s: Session, ret: number): void {
    const out = s.out;
    const mark = out.pos;
    switch (ret) {
      case STORE_STORED: out.ascii('HD'); break;
      case STORE_EXISTS: out.ascii('EX'); break;
      case STORE_NOT_FOUND: out.ascii('NF'); break;
      case STORE_NOT_STORED: out.ascii('NS'); break;
      default:
        s.noreply = false;
        this.outString(s, 'SERVER_ERROR out of memory storing object');
        return;
    }
    const stash = s.metaStash;
    let i = 0;
    while (i < stash.length) {
      // stash is " Oxxx k c" style: a space, then a token.
      let j = stash.indexOf(' ', i + 1);
      if (j < 0) j = stash.length;
      const tok = stash.slice(i + 1, j);
      if (tok === 'k') this.metaKey(s, s.key, 0, s.keyLen, s.keyBinary);
      else if (tok === 'c') {
        out.ascii(' c');
        out.uint(ret === STORE_STORED && typeof s.cas === 'number' ? s.cas : 0);
      } else {
        out.byte(32);
        out.ascii(tok);
      }
      i = j;
    }
    out.crlf();
    if (ret === STORE_STORED && s.noreply) out.pos = mark;
    s.noreply = false;
  }

  /**
   * The checks md and ma open with in proto_text.c (same order, same texts), then the flag pre-parse.
   * False when an error reply was written.
   */
  private metaMutationStart(s: Session, ntokens: number): boolean {
    if (ntokens < 3) {
      this.outString(s, 'ERROR');
      return false;
    }
    if (this.t.length(1) > KEY_MAX_LENGTH) {
      this.outString(s, 'CLIENT_ERROR bad command line format');
      return false;
    }
    if (ntokens > MFLAG_MAX_OPT_LENGTH) {
      this.outString(s, 'CLIENT_ERROR options flags too long');
      return false;
    }
    if (!this.metaPreparse(2)) {
      this.outErr(s, 'CLIENT_ERROR invalid or duplicate flag');
      return false;
    }
    s.noreply = this.of.noReply;
    return true;
  }

  private metaDelete(s: Session, ntokens: number): void {
    const t = this.t;
    const of = this.of;
    const out = s.out;
    if (!this.metaMutationStart(s, ntokens)) return;
    const kb = this.keyBuf;
    const ks = this.keyStart;
    const ke = this.keyEnd;
    const mark = out.pos;
    out.ascii('XX'); // status code, filled in below
    if (!this.opaqueAndKey(s, kb, ks, ke)) {
      out.pos = mark;
      this.outErr(s, 'CLIENT_ERROR opaque token too long');
      return;
    }
    const store = this.store;
    const counters = this.counters.row;
    let code = 'NF';
    let skip = false;
    const h = store.hashKey(kb, ks, ke);
    store.lock(h);
    try {
      const ref = of.hasCas || of.setStale ? this.findLive(h, kb, ks, ke) : store.find(h, kb, ks, ke, this.now);
      const flashOnly = ref === NO_ITEM && this.onFlash(h, kb, ks, ke);
      if (flashOnly) {
        this.flash!.invalidate(h, kb, ks, ke);
        counters[C.delete_hits]++;
        skip = s.noreply;
        code = 'HD';
      } else if (ref !== NO_ITEM) {
        if (of.hasCas && store.itemCas(ref) !== of.reqCas) {
          counters[C.delete_misses]++;
          code = 'EX';
        } else if (of.setStale) {
          // Mark stale instead of removing: a new CAS, the stale bit, and the win token up for grabs.
          if (of.newTtl) store.setExptime(ref, of.exptime);
          store.setBits(ref, (store.itemBits(ref) | ITEM_STALE) & ~ITEM_TOKEN_SENT);
          store.renewCas(h, ref);
          skip = s.noreply;
          code = 'HD';
        } else {
          counters[C.delete_hits]++;
          store.unlink(h, ref);
          this.flash?.invalidate(h, kb, ks, ke);
          skip = s.noreply;
          code = 'HD';
        }
      } else {
        counters[C.delete_misses]++;
      }
    } finally {
      store.unlock(h);
    }
    out.buf[mark] = code.charCodeAt(0);
    out.buf[mark + 1] = code.charCodeAt(1);
    out.crlf();
    if (skip) out.pos = mark;
    s.noreply = false;
  }

  private metaArithmetic(s: Session, ntokens: number): void {
    const t = this.t;
    const of = this.of;
    const out = s.out;
    if (!this.metaMutationStart(s, ntokens)) return;
    let incr = true;
    switch (of.mode) {
      case 0: case 73: case 43: incr = true; break; // I +
      case 68: case 45: incr = false; break; // D -
      default:
        this.outErr(s, 'CLIENT_ERROR invalid mode for ma M token');
        return;
    }
    const kb = this.keyBuf;
    const ks = this.keyStart;
    const ke = this.keyEnd;
    const store = this.store;
    const counters = this.counters.row;
    const mark = out.pos;
    const last = t.count - 1;
    let errstr = '';
    let skip = false;
    const h = store.hashKey(kb, ks, ke);
    store.lock(h);
    try {
      const r = this.addDelta(h, kb, ks, ke, incr, of.delta, of.reqCas);
      let ref = NO_ITEM;
      let created = false;
      let digits = '';
      switch (r.status) {
        case DELTA_OK:
          skip = s.noreply;
          ref = r.ref;
          digits = r.value;
          break;
        case DELTA_NON_NUMERIC:
          errstr = 'CLIENT_ERROR cannot increment or decrement non-numeric value';
          break;
        case DELTA_EOM:
          errstr = 'SERVER_ERROR out of memory';
          break;
        case DELTA_NOT_FOUND:
          if (of.vivify) {
            digits = of.initial.toString();
            const fresh = store.alloc(h, kb, ks, ke, 0, 0, digits.length, this.now);
            if (fresh === NO_ITEM) {
              errstr = 'SERVER_ERROR Out of memory allocating new item';
              break;
            }
            const view = store.valueView(fresh);
            for (let i = 0; i < digits.length; i++) view[i] = digits.charCodeAt(i);
            store.link(h, fresh, this.now);
            ref = fresh;
            created = true;
          } else {
            counters[incr ? C.incr_misses : C.decr_misses]++;
            out.ascii('NF');
          }
          break;
        case DELTA_CAS_MISMATCH:
          out.ascii('EX');
          break;
      }
      if (errstr === '') {
        if (ref !== NO_ITEM) {
          if (of.value) {
            out.ascii('VA ');
            out.uint(digits.length);
          } else out.ascii('HD');
          for (let i = 2; i < last && errstr === ''; i++) {
            switch (t.buf[t.starts[i]]) {
              case 99:
                out.ascii(' c');
                out.uint(store.itemCas(ref));
                break;
              case 116: {
                out.ascii(' t');
                const exp = store.itemExptime(ref);
                if (exp === 0) out.ascii('-1');
                else out.uint((exp - this.now) >>> 0);
                break;
              }
              case 84:
                store.setExptime(ref, of.exptime);
                break;
              case 78:
                if (created) store.setExptime(ref, of.autovivExptime);
                break;
              case 79:
                if (t.length(i) > MFLAG_MAX_OPAQUE_LENGTH) errstr = 'CLIENT_ERROR opaque token too long';
                else {
                  out.byte(32);
                  out.bytes(t.buf, t.starts[i], t.ends[i]);
                }
                break;
              case 107:
                this.metaKey(s, kb, ks, ke, of.keyBinary);
                break;
            }
          }
          if (of.value && errstr === '') {
            out.crlf();
            out.ascii(digits);
          }
        } else if (!this.opaqueAndKey(s, kb, ks, ke)) {
          errstr = 'CLIENT_ERROR opaque token too long';
        }
      }
    } finally {
      store.unlock(h);
    }
    if (errstr !== '') {
      out.pos = mark;
      this.outErr(s, errstr);
      return;
    }
    out.crlf();
    if (skip) out.pos = mark;
    s.noreply = false;
  }

  /** me: memcached's debug dump of one item's metadata. */
  private metaDebug(s: Session, ntokens: number): void {
    const t = this.t;
    if (ntokens < 3 || t.length(1) > KEY_MAX_LENGTH) {
      this.outString(s, 'CLIENT_ERROR bad command line format');
      return;
    }
    let kb: Uint8Array = t.buf;
    let ks = t.starts[1];
    let ke = t.ends[1];
    if (ntokens >= 4 && t.length(2) === 1 && t.buf[t.starts[2]] === 98) {
      const n = base64Decode(t.buf, ks, ke, this.keyScratch);
      if (n <= 0) {
        this.outString(s, 'CLIENT_ERROR bad command line format');
        return;
      }
      kb = this.keyScratch;
      ks = 0;
      ke = n;
    }
    const store = this.store;
    const h = store.hashKey(kb, ks, ke);
    let line = '';
    store.lock(h);
    try {
      const ref = store.find(h, kb, ks, ke, this.now);
      if (ref !== NO_ITEM) {
        const exp = store.itemExptime(ref);
        const vlen = store.itemValueLength(ref);
        const flags = store.itemFlags(ref);
        const keyBinary = (store.itemBits(ref) & ITEM_KEY_BINARY) !== 0;
        const key = keyBinary ? base64Encode(kb, ks, ke) : Buffer.from(kb.subarray(ks, ke)).toString('latin1');
        line = `ME ${key} exp=${exp === 0 ? -1 : this.now - exp} la=${this.now - store.itemTime(ref)} ` +
          `cas=${store.itemCas(ref)} fetch=${(store.itemBits(ref) & ITEM_FETCHED) !== 0 ? 'yes' : 'no'} ` +
          `cls=1 size=${MEMCACHED_ITEM_HEADER + (ke - ks) + 1 + vlen + 2 + (flags !== 0 ? 4 : 0)}`;
      }
    } finally {
      store.unlock(h);
    }
    this.counters.row[C.cmd_meta]++;
    this.outString(s, line === '' ? 'EN' : line);
  }

}

const STORE_STORED = 0;
const STORE_EXISTS = 1;
const STORE_NOT_FOUND = 2;
const STORE_NOT_STORED = 3;
const STORE_NO_MEMORY = 4;
const STORE_REPLIES = ['STORED', 'EXISTS', 'NOT_FOUND', 'NOT_STORED', 'SERVER_ERROR out of memory storing object'];

const CAS_NONE = 0;
const CAS_MATCH = 1;
const CAS_BADVAL = 2;
const CAS_STALE = 3;

const DELTA_OK = 0;
const DELTA_NON_NUMERIC = 1;
const DELTA_EOM = 2;
const DELTA_NOT_FOUND = 3;
const DELTA_CAS_MISMATCH = 4;

