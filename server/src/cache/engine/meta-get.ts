/** mg, meta get: hits from RAM, from flash (value read asynchronously), misses, and the flags that change the item. */
import { ITEM_FETCHED, ITEM_KEY_BINARY, ITEM_STALE, ITEM_TOKEN_SENT, NO_ITEM } from '../store/types.js';
import { ON_FLASH } from '../store/tier.js';
import { MFLAG_MAX_OPAQUE_LENGTH } from '../../protocol/limits.js';
import { E_OPAQUE_TOO_LONG } from '../../protocol/parser.js';
import type { Request } from '../../protocol/request.js';
import { C } from '../metrics/counters.js';
import type { EngineContext } from './context.js';
import type { Session } from './session.js';

/** mg: memcached's process_mget_command() after the parser's checks. */
export function metaGet(e: EngineContext, s: Session, req: Request): void {
  const t = e.t;
  const of = e.of;
  const out = s.out;
  const counters = e.counters.row;
  e.metaTimes();
  const kb = req.keyBuf;
  const ks = req.keyStart;
  const ke = req.keyEnd;
  const store = e.store;
  const now = e.now;
  const mark = out.pos;
  const last = t.count - 1;
  let ttlSet = false;
  let failed = false;
  let opaqueTooLong = false;
  let flashHit = false;
  const h = store.hashKey(kb, ks, ke);
  store.lock(h);
  try {
    let ref = of.locked ? store.findLive(h, kb, ks, ke, now) : store.lookup(h, kb, ks, ke, now, e.loc);
    let created = false;
    let won = false;
    if (ref === ON_FLASH) {
      ref = NO_ITEM;
      opaqueTooLong = metaGetFromFlash(e, s, h, kb, ks, ke, mark);
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
            e.metaKey(s, kb, ks, ke, (store.itemBits(ref) & ITEM_KEY_BINARY) !== 0);
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
          store.copyValue(ref, out.buf, out.pos, out.dataView());
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
    e.outErr(s, E_OPAQUE_TOO_LONG);
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
  if (!e.opaqueAndKey(s, kb, ks, ke)) {
    out.pos = mark;
    e.outErr(s, E_OPAQUE_TOO_LONG);
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
export function metaGetFromFlash(e: EngineContext, s: Session, h: number, kb: Uint8Array, ks: number, ke: number, mark: number): boolean {
  const t = e.t;
  const of = e.of;
  const out = s.out;
  const hit = e.loc;
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
        else out.uint((hit.exptime - e.now) >>> 0);
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
      case 107: e.metaKey(s, kb, ks, ke, of.keyBinary); break;
    }
  }
  out.crlf();
  if (of.value) e.readFromFlash(s, h, kb, ks, ke, mark, !of.noUpdate);
  return false;
}
