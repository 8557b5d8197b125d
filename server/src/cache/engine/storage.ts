/**
 * The storage commands (set, add, replace, append, prepend, cas; ms stores through here too): memcached's
 * process_update_command() after the parser's checks, and do_store_item() once the value has arrived.
 */
import { ITEM_KEY_BINARY, ITEM_STALE, ITEM_TOKEN_SENT, NO_ITEM, type ItemRef } from '../store/types.js';
import { ON_FLASH } from '../store/tier.js';
import { E_TOO_LARGE } from '../../protocol/parser.js';
import type { Request } from '../../protocol/request.js';
import { C } from '../metrics/counters.js';
import type { EngineContext } from './context.js';
import {
  NREAD_ADD, NREAD_APPEND, NREAD_CAS, NREAD_PREPEND, NREAD_SET, WANT_NREAD, WANT_SWALLOW, type Session,
} from './session.js';

/** do_store_item()'s results. */
export const STORE_STORED = 0;
export const STORE_EXISTS = 1;
export const STORE_NOT_FOUND = 2;
export const STORE_NOT_STORED = 3;
export const STORE_NO_MEMORY = 4;
export const STORE_REPLIES = ['STORED', 'EXISTS', 'NOT_FOUND', 'NOT_STORED', 'SERVER_ERROR out of memory storing object'];

const CAS_NONE = 0;
const CAS_MATCH = 1;
const CAS_BADVAL = 2;
const CAS_STALE = 3;

/**
 * set, add, replace, append, prepend, cas: the line is parsed (protocol/parser.ts); here the item's size
 * is checked against -I, then the session waits for the data block (completeNread in text.ts).
 */
export function update(e: EngineContext, s: Session, req: Request): void {
  const buf = req.keyBuf;
  const vlen = req.vlen;
  const keyLen = req.keyEnd - req.keyStart;
  if (e.prefixes.on[0] !== 0) e.prefixes.recordSet(buf, req.keyStart, req.keyEnd);
  if (!e.itemSizeOk(keyLen, req.flags, vlen)) {
    e.outString(s, E_TOO_LARGE);
    e.counters.row[C.store_too_large]++;
    s.want = WANT_SWALLOW;
    s.swallowBytes = vlen + 2;
    // Avoid stale data persisting in cache because the new value could not be stored.
    if (req.cmd === NREAD_SET) e.unlinkKey(buf, req.keyStart, req.keyEnd);
    return;
  }
  s.resetStorage();
  // A byte loop: Buffer.copy is a call into C++ (~60 ns) for the ~30 bytes of a typical key.
  const key = s.key;
  for (let i = 0, k = req.keyStart; i < keyLen; i++, k++) key[i] = buf[k];
  s.keyLen = keyLen;
  s.flags = req.flags;
  s.exptime = e.clock.realtime(req.exptime, e.now);
  s.cas = req.cas;
  s.nreadCmd = req.cmd;
  s.nreadBytes = vlen + 2;
  s.want = WANT_NREAD;
}

/**
 * Data blocks at least this long that do not arrive with their line are read straight into their item
 * (beginDirectValue). Below it the stash (net/readbuffer.ts) costs less than an alloc and a segment pin.
 */
export const DIRECT_VALUE_MIN = 8 * 1024;

/**
 * memcached's process_update_command() allocates the item at the line and reads the data block into it;
 * so does this, for a set/add/replace/cas (or ms in those modes) whose value has not all arrived yet: the
 * item is allocated now, unlinked, its segment pinned (pinValue: not evicted, compacted or dropped while
 * the value arrives over several reads), and s.directView is where its bytes go. do_store_item() then links
 * it (storeItem with a null vbuf); an item not linked (add of an existing key, a cas mismatch, a connection
 * that died mid-value) stays unreachable garbage in its segment, whose space eviction takes back as it
 * does an overwritten item's. append/prepend join with the old value, so they keep the stash. False: no
 * item (out of memory, or a quarter of the segments pinned already): the caller stashes the block, and
 * do_store_item() allocates as for a small value, with the same replies.
 */
export function beginDirectValue(e: EngineContext, s: Session): boolean {
  const comm = s.nreadCmd;
  if (comm === NREAD_APPEND || comm === NREAD_PREPEND) return false;
  const store = e.store;
  const h = store.hashKey(s.key, 0, s.keyLen);
  store.lock(h);
  try {
    const ref = store.alloc(h, s.key, 0, s.keyLen, s.flags, s.exptime, s.nreadBytes - 2, e.now);
    if (ref === NO_ITEM) return false;
    const segment = store.pinValue(ref);
    if (segment < 0) return false;
    s.directRef = ref;
    s.directSegment = segment;
    s.directView = store.valueView(ref);
    s.directGot = 0;
    s.directBadEnd = false;
    return true;
  } finally {
    store.unlock(h);
  }
}

/** Drops a direct value's pin; its item, if never linked, is garbage from now on. Any time, no lock. */
export function releaseDirectValue(e: EngineContext, s: Session): void {
  if (s.directSegment < 0) return;
  e.store.unpinSegment(s.directSegment);
  s.directSegment = -1;
  s.directRef = NO_ITEM;
  s.directView = null;
}

/**
 * memcached's do_store_item(), returning one of the STORE_* codes. `vbuf` null: the value is already in
 * the session's direct item (beginDirectValue), which is linked instead of a fresh allocation.
 */
export function storeItem(e: EngineContext, s: Session, vbuf: Buffer | null, vstart: number, vlen: number): number {
  const store = e.store;
  const key = s.key;
  const klen = s.keyLen;
  const now = e.now;
  const counters = e.counters.row;
  const comm = s.nreadCmd;
  const h = store.hashKey(key, 0, klen);
  store.lock(h);
  try {
    // -M: the item is allocated first (memcached's order), and stored as it is by set/add/replace/cas; when
    // the command stores nothing its bytes are dead space that the next compaction of its segment reclaims.
    // A direct value (vbuf null) was allocated when its command line arrived, as memcached does.
    let first: ItemRef = NO_ITEM;
    if (e.settings.allocFirst === true && vbuf !== null) {
      first = store.alloc(h, key, 0, klen, s.flags, s.exptime, vlen, now);
      if (first === NO_ITEM) {
        counters[C.store_no_memory]++;
        return STORE_NO_MEMORY;
      }
    }
    let old = comm === NREAD_SET ? store.find(h, key, 0, klen, now) : store.lookup(h, key, 0, klen, now, e.loc);
    if (old === ON_FLASH) {
      // add must see a flash item; append/prepend/cas need its bytes or CAS in RAM.
      if (comm === NREAD_APPEND || comm === NREAD_PREPEND || comm === NREAD_CAS) old = store.promote(h, key, 0, klen, e.loc, now);
      else if (comm === NREAD_ADD) return STORE_NOT_STORED;
      else return writeItem(e, s, h, vbuf, vstart, vlen, s.flags, s.exptime, 0, first);
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
            return writeItem(e, s, h, vbuf, vstart, vlen, s.flags, s.exptime, 0, first);
          }
          if (casRes === CAS_STALE) {
            // Keeps the TTL and the stale/token bits of the item it replaces.
            counters[C.cas_hits]++;
            const bits = ITEM_STALE | (store.itemBits(old) & ITEM_TOKEN_SENT);
            return writeItem(e, s, h, vbuf, vstart, vlen, s.flags, store.itemExptime(old), bits);
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
          if (!e.itemSizeOk(klen, flags, total)) return STORE_NOT_STORED;
          // The old value must be copied out first: allocating may evict the segment it lives in.
          if (vbuf === null) return STORE_NOT_STORED; // never: beginDirectValue refuses append/prepend
          const joined = Buffer.allocUnsafe(total);
          if (comm === NREAD_APPEND) {
            store.copyValue(old, joined, 0);
            vbuf.copy(joined, oldLen, vstart, vstart + vlen);
          } else {
            vbuf.copy(joined, 0, vstart, vstart + vlen);
            store.copyValue(old, joined, vlen);
          }
          // memcached's do_store_item: no room for the joined item is NOT_STORED, and the item stays.
          const ret = writeItem(e, s, h, joined, 0, total, flags, exptime, 0);
          return ret === STORE_NO_MEMORY ? STORE_NOT_STORED : ret;
        }
        default:
          return writeItem(e, s, h, vbuf, vstart, vlen, s.flags, s.exptime, 0, first);
      }
    }
    switch (comm) {
      case NREAD_ADD:
      case NREAD_SET:
        return writeItem(e, s, h, vbuf, vstart, vlen, s.flags, s.exptime, 0, first);
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

/**
 * alloc + copy + link under the held lock; records the new CAS in the session for ms `c`. `vbuf` null:
 * link the session's direct item, whose value is in place (its flags are s.flags; a cas on a stale item
 * keeps the old item's exptime). `allocated`: an item already allocated for exactly this key, flags,
 * exptime and length (-M allocates first).
 */
export function writeItem(e: EngineContext, s: Session, h: number, vbuf: Uint8Array | null, vstart: number, vlen: number, flags: number,
  exptime: number, bits: number, allocated: ItemRef = NO_ITEM): number {
  const store = e.store;
  let ref: number;
  if (vbuf === null) {
    ref = s.directRef;
    if (store.itemExptime(ref) !== exptime) store.setExptime(ref, exptime);
  } else {
    ref = allocated !== NO_ITEM ? allocated : store.alloc(h, s.key, 0, s.keyLen, flags, exptime, vlen, e.now);
    if (ref === NO_ITEM) {
      e.counters.row[C.store_no_memory]++;
      return STORE_NO_MEMORY;
    }
    store.writeValue(ref, vbuf, vstart);
  }
  if (s.keyBinary) bits |= ITEM_KEY_BINARY;
  if (bits !== 0) store.setBits(ref, bits);
  store.link(h, ref, e.now);
  store.forget(h, s.key, 0, s.keyLen);
  s.cas = store.itemCas(ref);
  return STORE_STORED;
}
