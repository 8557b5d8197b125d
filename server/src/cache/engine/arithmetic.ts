/** incr and decr, and do_add_delta(), which ma shares (meta-arithmetic.ts). */
import { NO_ITEM } from '../store/types.js';
import { parseU64Big } from '../../protocol/numbers.js';
import type { Request } from '../../protocol/request.js';
import { CMD_INCR } from '../../protocol/commands.js';
import { C } from '../metrics/counters.js';
import type { EngineContext } from './context.js';
import type { Session } from './session.js';

const U64_MASK = (1n << 64n) - 1n;

/** addDelta()'s results. */
export const DELTA_OK = 0;
export const DELTA_NON_NUMERIC = 1;
export const DELTA_EOM = 2;
export const DELTA_NOT_FOUND = 3;
export const DELTA_CAS_MISMATCH = 4;

export function arithmetic(e: EngineContext, s: Session, req: Request): void {
  const incr = req.cmd === CMD_INCR;
  const store = e.store;
  const kb = req.keyBuf;
  const h = store.hashKey(kb, req.keyStart, req.keyEnd);
  store.lock(h);
  let result: string;
  try {
    const r = addDelta(e, h, kb, req.keyStart, req.keyEnd, incr, req.delta, 0);
    result = r.status === DELTA_OK ? r.value : '';
    switch (r.status) {
      case DELTA_OK: break;
      case DELTA_NON_NUMERIC: result = 'CLIENT_ERROR cannot increment or decrement non-numeric value'; break;
      case DELTA_EOM: result = 'SERVER_ERROR out of memory'; break;
      default:
        e.counters.row[incr ? C.incr_misses : C.decr_misses]++;
        result = 'NOT_FOUND';
    }
  } finally {
    store.unlock(h);
  }
  e.outString(s, result);
}

/** One result object per thread, reused (no allocation per incr). */
const deltaResult = { status: 0, value: '', ref: NO_ITEM as number };

/**
 * memcached's do_add_delta(), called with the lock held. A result that fits the old length keeps that
 * length, padded with spaces, as memcached's in-place update does ("5  " after decr of "100").
 */
export function addDelta(e: EngineContext, h: number, kbuf: Uint8Array, ks: number, ke: number, incr: boolean, delta: bigint,
  reqCas: number | bigint): { status: number; value: string; ref: number } {
  const store = e.store;
  const r = deltaResult;
  r.ref = NO_ITEM;
  r.value = '';
  const ref = store.findLive(h, kbuf, ks, ke, e.now);
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
  e.counters.row[incr ? C.incr_hits : C.decr_hits]++;
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
  const fresh = store.alloc(h, kbuf, ks, ke, store.itemFlags(ref), store.itemExptime(ref), digits.length, e.now);
  if (fresh === NO_ITEM) {
    r.status = DELTA_EOM;
    return r;
  }
  const view = store.valueView(fresh);
  for (let i = 0; i < digits.length; i++) view[i] = digits.charCodeAt(i);
  store.link(h, fresh, e.now);
  r.ref = fresh;
  r.status = DELTA_OK;
  return r;
}
