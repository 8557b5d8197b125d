/** delete and touch: one key each, checked by the parser, executed under the key's shard lock. */
import { NO_ITEM } from '../store/types.js';
import { ON_FLASH } from '../store/tier.js';
import type { Request } from '../../protocol/request.js';
import { C } from '../metrics/counters.js';
import type { EngineContext } from './context.js';
import type { Session } from './session.js';

export function touch(e: EngineContext, s: Session, req: Request): void {
  const exptime = e.clock.realtime(req.exptime, e.now);
  const store = e.store;
  const kb = req.keyBuf;
  const h = store.hashKey(kb, req.keyStart, req.keyEnd);
  let hit = false;
  store.lock(h);
  try {
    const ref = store.findLive(h, kb, req.keyStart, req.keyEnd, e.now);
    if (ref !== NO_ITEM) {
      store.touchAccess(ref, e.now);
      store.setExptime(ref, exptime);
      hit = true;
    }
  } finally {
    store.unlock(h);
  }
  const counters = e.counters.row;
  counters[C.cmd_touch]++;
  counters[hit ? C.touch_hits : C.touch_misses]++;
  e.outString(s, hit ? 'TOUCHED' : 'NOT_FOUND');
}

export function remove(e: EngineContext, s: Session, req: Request): void {
  const store = e.store;
  const kb = req.keyBuf;
  const ks = req.keyStart;
  const ke = req.keyEnd;
  if (e.prefixes.on[0] !== 0) e.prefixes.recordDelete(kb, ks, ke);
  const h = store.hashKey(kb, ks, ke);
  let hit = false;
  store.lock(h);
  try {
    const ref = store.find(h, kb, ks, ke, e.now);
    if (ref !== NO_ITEM) {
      store.unlink(h, ref);
      hit = true;
    }
    if (store.lookup(h, kb, ks, ke, e.now, e.loc) === ON_FLASH) {
      store.forget(h, kb, ks, ke);
      hit = true;
    }
  } finally {
    store.unlock(h);
  }
  e.counters.row[hit ? C.delete_hits : C.delete_misses]++;
  e.outString(s, hit ? 'DELETED' : 'NOT_FOUND');
}
