/**
 * What every command of cachalot-server works with: the store, the counters, the clock, the parser that
 * parsed the request (its tokens), and the reply helpers memcached's proto_text.c shares between
 * commands (out_string, out_errstring, the VALUE reply, item_size_ok, the meta return tokens). One per
 * serving thread; the command families (retrieval.ts, storage.ts, meta-get.ts, ...) take it as their
 * first argument and text.ts dispatches to them.
 */
import { ItemLocation, type TieredStore } from '../store/tier.js';
import { NO_ITEM } from '../store/types.js';
import { base64Encode } from '../../protocol/base64.js';
import { MFLAG_MAX_OPAQUE_LENGTH } from '../../protocol/limits.js';
import { RequestParser } from '../../protocol/parser.js';
import type { Counters } from '../metrics/counters.js';
import type { Clock } from '../../runtime/clock.js';
import type { StatsSource } from '../metrics/stats-source.js';
import { createPrefixStatsMemory, PrefixStats } from '../metrics/prefix-stats.js';
import { landValue, reserveValue } from './pending.js';
import type { Session } from './session.js';

/**
 * A multi-get yields to the connection once its replies pass this size, so that one line naming a large
 * value thousands of times can't build an unbounded reply: the connection sends what there is (and waits
 * for a slow reader to catch up) before the get continues with its next key.
 */
export const GET_YIELD_BYTES = 1024 * 1024;
/**
 * Values this large are sent from shared memory without a copy, as memcached's iovecs point into the item
 * (measured with 1 MB values, 50 connections: copying them into the reply buffer took a third of the
 * server's CPU; with 100 B .. 100 KiB values and a 64 KiB threshold, the copies of the values below it were
 * still 7.5% of it). Smaller ones are copied: a pin, a separate iovec and a later release cost more than
 * a copy of a few KiB.
 */
export const ZERO_COPY_MIN = 8 * 1024;

/**
 * memcached's per-item overhead in ITEM_ntotal (its -I limit and `me` size=): sizeof(item), 48 bytes on
 * 64-bit, plus the 8-byte CAS it stores with every item when CAS is on (the default).
 */
export const MEMCACHED_ITEM_HEADER = 48 + 8;

export interface EngineSettings {
  maxItemSize: number;
  shutdownEnabled: boolean;
  flushEnabled: boolean;
  /**
   * -M: allocate a write's item before looking at its key, as memcached's process_update_command does, so
   * that a write finding no memory is refused whatever the key's state (an add of a present key included).
   */
  allocFirst?: boolean;
}

export interface EngineHooks {
  /** shutdown (-A): graceful is memcached's "shutdown graceful". */
  shutdown(graceful: boolean): void;
  setVerbosity(level: number): void;
  /** refresh_certs: undefined when the certificate files were reloaded, else memcached's error text. */
  refreshCerts?(): string | undefined;
}

export class EngineContext {
  readonly parser = new RequestParser();
  /** The tokens of the request line being executed. */
  readonly t = this.parser.tokens;
  /** Filled by store.lookup() when the key is on flash. */
  readonly loc = new ItemLocation();
  /** The meta flags of the request being executed (the parser's, reused). */
  readonly of = this.parser.req.meta;
  /** memcached's current_time for the request being executed. */
  now = 0;
  /** The current request line, for multi-get continuation past 23 keys. */
  lineStart = 0;
  lineEnd = 0;
  /** `stats detail`: shared by all threads once the worker sets it; a table of its own until then. */
  prefixes = new PrefixStats(createPrefixStatsMemory(), 58 /* ':' */);
  private readonly unpinSegment = (segment: number): void => this.store.unpinSegment(segment);

  constructor(
    readonly store: TieredStore,
    readonly counters: Counters,
    readonly clock: Clock,
    readonly settings: EngineSettings,
    readonly hooks: EngineHooks,
    readonly statsSource: StatsSource,
  ) {}

  /** "VALUE key flags bytes [cas]\r\n<data>\r\n" for a RAM item, and the read bump. Lock held. */
  writeValueReply(s: Session, ref: number, kb: Uint8Array, ks: number, ke: number, returnCas: boolean): void {
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
      store.copyValue(ref, out.buf, out.pos, out.dataView());
      out.pos += vlen;
    }
    out.crlf();
    store.touchAccess(ref, this.now);
  }

  /**
   * The value of the item store.lookup() just located on flash goes into reserved bytes of the reply (its
   * header is written from replyStart), read asynchronously; the store may promote it to RAM.
   */
  readFromFlash(s: Session, h: number, kb: Uint8Array, ks: number, ke: number, replyStart: number,
    promoteOnHit: boolean): void {
    const rec = reserveValue(s, replyStart, this.loc.valueLength);
    this.store.readLocated(h, kb, ks, ke, this.loc, promoteOnHit, (value) => landValue(s, rec, value, this.counters.row));
  }

  outString(s: Session, str: string): void {
    if (s.noreply) {
      s.noreply = false;
      return;
    }
    s.out.ascii(str);
    s.out.crlf();
  }

  /** out_errstring(): errors of meta commands are sent even in quiet mode. */
  outErr(s: Session, str: string): void {
    s.noreply = false;
    this.outString(s, str);
  }

  /** memcached's item_size_ok(): ITEM_ntotal must fit -I. */
  itemSizeOk(keyLen: number, flags: number, vlen: number): boolean {
    const ntotal = MEMCACHED_ITEM_HEADER + keyLen + 1 + vlen + 2 + (flags !== 0 ? 4 : 0);
    return ntotal <= this.settings.maxItemSize && vlen <= this.store.maxValueLength(keyLen);
  }

  unlinkKey(buf: Uint8Array, ks: number, ke: number): void {
    const store = this.store;
    const h = store.hashKey(buf, ks, ke);
    store.lock(h);
    try {
      const ref = store.find(h, buf, ks, ke, this.now);
      if (ref !== NO_ITEM) store.unlink(h, ref);
      store.forget(h, buf, ks, ke);
    } finally {
      store.unlock(h);
    }
  }

  /**
   * The O (opaque) and k (key) return tokens, in request order, as memcached writes them after EN, NF,
   * EX and md's codes. False when an opaque token is too long (nothing more written).
   */
  opaqueAndKey(s: Session, kb: Uint8Array, ks: number, ke: number): boolean {
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

  /** The meta flags' times in the clock's seconds, as _meta_flag_preparse() turns them with realtime(). */
  metaTimes(): void {
    const of = this.of;
    const now = this.now;
    if (of.newTtl) of.exptime = this.clock.realtime(of.exptime, now);
    if (of.vivify) of.autovivExptime = this.clock.realtime(of.autovivExptime, now);
    if (of.hasRecache) of.recacheTime = this.clock.realtime(of.recacheTime, now);
  }

  /** META_KEY: the key as a return token, base64 again when it came in binary. */
  metaKey(s: Session, kbuf: Uint8Array, ks: number, ke: number, binary: boolean): void {
    s.out.ascii(' k');
    if (!binary) s.out.bytes(kbuf, ks, ke);
    else {
      s.out.ascii(base64Encode(kbuf, ks, ke));
      s.out.ascii(' b');
    }
  }
}
