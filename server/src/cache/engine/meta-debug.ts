/** me: memcached's debug dump of one item's metadata (the parser decodes a base64 key). */
import { ITEM_FETCHED, ITEM_KEY_BINARY, NO_ITEM } from '../store/types.js';
import { base64Encode } from '../../protocol/base64.js';
import type { Request } from '../../protocol/request.js';
import { C } from '../metrics/counters.js';
import { MEMCACHED_ITEM_HEADER, type EngineContext } from './context.js';
import type { Session } from './session.js';

/** me: memcached's debug dump of one item's metadata. */
export function metaDebug(e: EngineContext, s: Session, req: Request): void {
  const kb = req.keyBuf;
  const ks = req.keyStart;
  const ke = req.keyEnd;
  const store = e.store;
  const h = store.hashKey(kb, ks, ke);
  let line = '';
  store.lock(h);
  try {
    const ref = store.find(h, kb, ks, ke, e.now);
    if (ref !== NO_ITEM) {
      const exp = store.itemExptime(ref);
      const vlen = store.itemValueLength(ref);
      const flags = store.itemFlags(ref);
      const keyBinary = (store.itemBits(ref) & ITEM_KEY_BINARY) !== 0;
      const key = keyBinary ? base64Encode(kb, ks, ke) : Buffer.from(kb.subarray(ks, ke)).toString('latin1');
      line = `ME ${key} exp=${exp === 0 ? -1 : e.now - exp} la=${e.now - store.itemTime(ref)} ` +
        `cas=${store.itemCas(ref)} fetch=${(store.itemBits(ref) & ITEM_FETCHED) !== 0 ? 'yes' : 'no'} ` +
        `cls=1 size=${MEMCACHED_ITEM_HEADER + (ke - ks) + 1 + vlen + 2 + (flags !== 0 ? 4 : 0)}`;
    }
  } finally {
    store.unlock(h);
  }
  e.counters.row[C.cmd_meta]++;
  e.outString(s, line === '' ? 'EN' : line);
}
