// The mutant table of `npm run mutate` (scripts/mutate.mjs): one deliberate bug per row, each a small code
// change of the kind that slips through review — a comparison off by one (`<=` to `<`), a sign or an
// operand swapped, a `+ 1` added or dropped, a condition or a statement removed, a constant changed. `from`
// must occur in `file` exactly once (or give `occurrence`); the run refuses a table that no longer matches
// the sources. `tests` overrides the module's test files. docs/testing.md lists the survivors and why.

const STORE = ['test/unit/cache/store/basic.test.ts', 'test/unit/cache/store/model.test.ts', 'test/unit/cache/store/pins.test.ts',
  'test/unit/cache/store/memlimit.test.ts', 'test/unit/cache/store/keys.test.ts', 'test/unit/cache/store/counters.test.ts'];
const TIERED = ['test/unit/cache/store/tiered.test.ts', 'test/unit/cache/engine/flash-items.test.ts'];
const EVICTION = ['test/unit/cache/store/eviction.test.ts', 'test/unit/cache/store/counters.test.ts',
  'test/unit/cache/store/basic.test.ts'];

export const MODULES = {
  store: { tests: STORE },
  flash: {
    tests: ['test/unit/cache/flash/tier.test.ts', 'test/unit/cache/flash/recovery.test.ts', 'test/unit/cache/flash/lookup.test.ts',
      'test/unit/cache/flash/recovery-file-order.test.ts', 'test/unit/cache/flash/files.test.ts'],
  },
  clock: { tests: ['test/unit/runtime/clock.test.ts', 'test/unit/runtime/realtime.test.ts', 'test/unit/runtime/clock-cell.test.ts'] },
  sidecar: {
    tests: ['test/unit/sidecar/routing/table.test.ts', 'test/unit/sidecar/ring-and-config.test.ts',
      'test/unit/sidecar/ring/ketama-pylibmc.test.ts', 'test/unit/sidecar/ring/ring-bounds.test.ts'],
  },
  operator: {
    tests: ['test/unit/operator/builders.test.ts', 'test/unit/operator/conditions.test.ts',
      'test/unit/operator/ring.test.ts', 'test/unit/operator/plan.test.ts',
      'test/unit/operator/observed-generation.test.ts'],
  },
};

const S = 'server/src/cache/store/segmentstore.ts';
const TS = 'server/src/cache/store/tiered.ts';
const R = 'server/src/cache/flash/recovery.ts';
const T = 'server/src/cache/flash/index.ts';
const C = 'server/src/runtime/clock.ts';
const RT = 'server/src/sidecar/routing/table.ts';
const CO = 'server/src/sidecar/ring/continuum.ts';
const RG = 'server/src/sidecar/ring/document.ts';
const OR = 'operator/src/ring.ts';
const B = 'operator/src/builders/';

export const MUTANTS = [
  // ---- store ------------------------------------------------------------------------------------------
  { module: 'store', file: S, why: 'expiry `exptime <= now` becomes `<`', from: 'if (exptime !== 0 && exptime <= now) return true;', to: 'if (exptime !== 0 && exptime < now) return true;' },
  { module: 'store', file: S, why: 'exptime 0 no longer means "never expires"', from: 'if (exptime !== 0 && exptime <= now) return true;', to: 'if (exptime <= now) return true;' },
  { module: 'store', file: S, why: 'flush_all: an item with the flush CAS survives (`<=` to `<`)', from: 'if (this.f64[loc + H_CAS] <= this.ctr[', to: 'if (this.f64[loc + H_CAS] < this.ctr[' },
  { module: 'store', file: S, why: 'delayed flush: deadline second itself not yet flushed (`oldestLive <= now` to `<`)', from: 'return oldestLive !== 0 && oldestLive <= now && this.u32[loc * 2 + H_TIME] <= oldestLive;', to: 'return oldestLive !== 0 && oldestLive < now && this.u32[loc * 2 + H_TIME] <= oldestLive;' },
  { module: 'store', file: S, why: 'delayed flush: an item stored in the deadline second survives (`<=` to `<`)', from: 'return oldestLive !== 0 && oldestLive <= now && this.u32[loc * 2 + H_TIME] <= oldestLive;', to: 'return oldestLive !== 0 && oldestLive <= now && this.u32[loc * 2 + H_TIME] < oldestLive;' },
  { module: 'store', file: S, why: 'find: key bytes not compared (same hash = same key)', from: 'if (!this.keyEquals(loc * 8, buf, start, end)) continue;', to: '' },
  { module: 'store', file: S, why: 'keyEquals: key length not compared', from: 'if (u8[off + H_KLEN] !== klen) return false;', to: '' },
  { module: 'store', file: S, why: 'keyEquals: last key byte not compared', from: 'for (let i = 0; i < klen; i++) if (u8[k + i] !== buf[start + i]) return false;', to: 'for (let i = 0; i < klen - 1; i++) if (u8[k + i] !== buf[start + i]) return false;' },
  { module: 'store', file: S, why: 'find: a dead item found is left in the index', from: 'this.dropSlot(shard, i, loc, RECLAIM);\n          return NO_ITEM;', to: 'return NO_ITEM;' },
  { module: 'store', file: S, why: 'alloc: a key of MAX_KEY_LENGTH bytes refused (`>` to `>=`)', from: 'klen > MAX_KEY_LENGTH', to: 'klen >= MAX_KEY_LENGTH' },
  { module: 'store', file: S, why: 'alloc: flags not stored', from: 'u32[w + H_FLAGS] = flags;', to: 'u32[w + H_FLAGS] = 0;' },
  { module: 'store', file: S, why: "alloc: a TTL item does not raise its segment's max exptime", from: 'else if (exptime > this.seg[s + SEG_MAX_EXPTIME]) this.seg[s + SEG_MAX_EXPTIME] = Math.min(exptime, SEG_NEVER);', to: '', tests: EVICTION },
  { module: 'store', file: S, why: "touch: a longer TTL does not raise its segment's max exptime", from: 'else if (exptime > this.seg[m]) this.seg[m] = exptime;', to: '', tests: EVICTION },
  { module: 'store', file: S, why: 'touch: removing the expiry does not mark the segment never-expiring', from: 'if (exptime === 0 || exptime >= SEG_NEVER) this.seg[m] = SEG_NEVER;', to: 'if (exptime >= SEG_NEVER) this.seg[m] = SEG_NEVER;', tests: EVICTION },
  { module: 'store', file: S, why: 'a read does not set ITEM_FETCHED', from: 'if ((bits & ITEM_FETCHED) === 0) u8[off + H_BITS] = bits | ITEM_FETCHED;', to: '' },
  { module: 'store', file: S, why: 'a read does not raise the read count (eviction keeps nothing hot)', from: 'u8[off + H_INTL] = intl + INTL_HOT;', to: 'u8[off + H_INTL] = intl;', tests: EVICTION },
  { module: 'store', file: S, why: 'link: the replaced item is not unlinked', from: 'this.dropSlot(shard, i, other, REMOVED);\n            this.fillSlot(shard, i, tag, loc);', to: 'this.fillSlot(shard, i, tag, loc);' },
  { module: 'store', file: S, why: 'CAS counter starts at 0 (`+ 1` dropped)', from: 'return Number(Atomics.add(this.casWord, 0, 1n)) + 1;', to: 'return Number(Atomics.add(this.casWord, 0, 1n));' },
  { module: 'store', file: S, why: 'flush_all records no CAS floor', from: 'this.ctr[c + C_FLUSH_CAS] = Number(Atomics.load(this.casWord, 0));', to: 'this.ctr[c + C_FLUSH_CAS] = 0;' },
  { module: 'store', file: S, why: 'stats: bytes subtracted instead of added', from: 's.bytes += ctr[c + C_BYTES];', to: 's.bytes -= ctr[c + C_BYTES];' },
  { module: 'store', file: S, why: 'stats: evictions not summed', from: 's.evictions += ctr[c + C_EVICTIONS];', to: '', tests: EVICTION },
  { module: 'store', file: S, why: 'unlink: curr_items not decremented', from: 'this.ctr[c + C_CURR_ITEMS] -= 1;', to: '' },
  { module: 'store', file: S, why: 'link: total_items not counted', from: 'this.ctr[c + C_TOTAL_ITEMS] += 1;', to: '' },
  { module: 'store', file: S, why: 'evicted_unfetched counts fetched items instead', from: 'if (!fetched) this.ctr[c + C_EVICTED_UNFETCHED] += 1;', to: 'if (fetched) this.ctr[c + C_EVICTED_UNFETCHED] += 1;', tests: EVICTION },
  { module: 'store', file: S, why: 'expired_unfetched counts items that had no TTL', from: 'if (exptime !== 0) this.ctr[c + C_EXPIRED_UNFETCHED] += 1;', to: 'this.ctr[c + C_EXPIRED_UNFETCHED] += 1;' },
  { module: 'store', file: S, why: 'eviction keeps no hot items (keep = 0)', from: 'const keep = lastChance ? 0 : vcls === cls ? Math.min(half, this.segmentSize - size) : half;', to: 'const keep = 0;', tests: EVICTION },
  { module: 'store', file: S, why: 'eviction victim: most live bytes instead of fewest', from: 'live < bestLive ||', to: 'live > bestLive ||', tests: EVICTION },
  { module: 'store', file: S, why: 'expired-segment drop ignores pins', from: 'if (maxExp === SEG_NEVER || maxExp > now || this.isPinned(shard, head) || this.hasReaders(head)) break;', to: 'if (maxExp === SEG_NEVER || maxExp > now || this.hasReaders(head)) break;' },
  { module: 'store', file: S, why: 'eviction skips the flash tier (onEvict not called)', from: 'if (this.onEvict !== undefined) this.onEvict(hash, loc + 1, now); // flash tier: demote', to: '', tests: ['test/unit/cache/flash/tier.test.ts'] },
  { module: 'store', file: S, why: 'compaction moves a kept item without repointing its index slot', from: 'if (slot >= 0) this.index[slot + 1] = dst / 8;', to: '', tests: EVICTION },
  { module: 'store', file: S, why: 'segments are stolen from shards that own no more than this one', from: 'const floor = anyOwner ? 0 : this.sh[shard * SHARD_I32_STRIDE + SH_OWNED] + 1;', to: 'const floor = anyOwner ? 0 : this.sh[shard * SHARD_I32_STRIDE + SH_OWNED] - 1;', tests: EVICTION },
  { module: 'store', file: S, why: 'cache_memlimit accepts a limit of one segment (`allowed < 2` to `< 1`)', from: 'if (allowed < 2 || allowed > this.global[G_RESERVE_SEGMENTS]) return false;', to: 'if (allowed < 1 || allowed > this.global[G_RESERVE_SEGMENTS]) return false;' },
  { module: 'store', file: 'server/src/cache/store/hash.ts', why: 'murmur3: third tail byte ignored', from: 'if (rest > 2) k |= buf[i + 2] << 16;', to: '' },
  { module: 'store', file: 'server/src/cache/store/hash.ts', why: 'murmur3: length not mixed in', from: 'h ^= end - start;', to: '' },
  { module: 'store', file: 'server/src/cache/store/lock.ts', why: 'unlock never wakes a waiter', from: 'Atomics.notify(a, i, 1);', to: '', tests: ['test/unit/cache/store/lock.test.ts', 'test/unit/cache/store/threads.test.ts'] },
  { module: 'store', file: 'server/src/cache/store/lock.ts', why: 'tryLock succeeds on a held lock', from: 'return Atomics.compareExchange(a, i, 0, 1) === 0;', to: 'Atomics.compareExchange(a, i, 0, 1);\n  return true;', tests: ['test/unit/cache/store/lock.test.ts', ...EVICTION] },
  { module: 'store', file: 'server/src/cache/store/memory.ts', why: 'option range check ignores the minimum', from: 'value < min || value > max', to: 'value > max' },
  { module: 'store', file: TS, why: 'tiered: the first read of a flash item promotes it (no admission filter)', from: 'if ((seen[byte] & mask) !== 0) return true;', to: 'return true;', tests: TIERED },
  { module: 'store', file: TS, why: 'tiered: a completed read promotes an item deleted or rewritten meanwhile', from: 'this.lower!.lookup(hash, key, 0, key.length, now, this.recheck) && this.recheck.cas === loc.cas', to: 'true', tests: TIERED },
  { module: 'store', file: TS, why: 'tiered: a synchronous promotion leaves the flash copy behind', from: '    lower.invalidate(hash, buf, start, end);\n', to: '', tests: TIERED },
  { module: 'store', file: TS, why: 'tiered: a promoted item gets a new CAS instead of its own', from: 'this.setCas(fresh, loc.cas);', to: '', tests: TIERED },
  { module: 'store', file: TS, why: 'tiered: lookup() never answers ON_FLASH', from: 'return this.lower.lookup(hash, buf, start, end, now, loc) ? ON_FLASH : NO_ITEM;', to: 'return NO_ITEM;', tests: TIERED },

  // ---- flash recovery / index ---------------------------------------------------------------------------
  { module: 'flash', file: R, why: 'log files ordered by name, not number (file 10 before file 9)', from: 'found.sort((a, b) => a.no - b.no);', to: 'found.sort((a, b) => String(a.no).localeCompare(String(b.no)));' },
  { module: 'flash', file: R, why: 'log files replayed newest first', from: 'found.sort((a, b) => a.no - b.no);', to: 'found.sort((a, b) => b.no - a.no);' },
  { module: 'flash', file: R, why: 'an item expiring at the restart second is recovered (`rel <= now` to `<`)', from: 'if (abs !== 0 && rel <= now) {', to: 'if (abs !== 0 && rel < now) {' },
  { module: 'flash', file: R, why: 'an expired newer version leaves the older version indexed', from: 'const i = index.find(hash);\n          if (i >= 0) index.clear(i);\n        } else {', to: '} else {' },
  { module: 'flash', file: R, why: 'tombstones ignored at recovery', from: '} else {\n        const i = index.find(hash);\n        if (i >= 0) index.clear(i);\n      }', to: '}' },
  { module: 'flash', file: R, why: 'a record with a bad checksum is replayed', from: 'if (verifyRecord(buf, off, buf.length - off) !== RECORD_OK) break;', to: 'if (verifyRecord(buf, off, buf.length - off) === RECORD_TORN) break;' },
  { module: 'flash', file: R, why: 'one file more than the capacity is dropped (`>` to `>=`)', from: 'while (found.length > capacity) {', to: 'while (found.length >= capacity) {' },
  { module: 'flash', file: R, why: 'the next file number reuses the last one', from: 'nextFile: lastNo + 1,', to: 'nextFile: lastNo,' },
  { module: 'flash', file: R, why: 'a delayed flush due at the restart second is not applied (`<=` to `<`)', from: 'if (flushAbs !== 0 && oldestLive <= now) {', to: 'if (flushAbs !== 0 && oldestLive < now) {' },
  { module: 'flash', file: R, why: 'recovered items lose their expiry', from: 'e[i + E_EXPTIME] = rel;', to: 'e[i + E_EXPTIME] = 0;' },
  { module: 'flash', file: R, why: 'recovered items lose their flags', from: 'e[i + E_FLAGS] = readU32(buf, off, R_FLAGS);', to: 'e[i + E_FLAGS] = 0;' },
  { module: 'flash', file: R, why: 'recovery does not report the highest CAS', from: 'result.maxCas = Math.max(result.maxCas, casHi * 4294967296 + casLo);', to: '' },
  { module: 'flash', file: R, why: 'recovered object count includes empty slots', from: 'if (e[i + E_TAG] !== 0) live++;', to: 'live++;' },
  { module: 'flash', file: T, why: 'index lookup never tries the second bucket', from: 'if (w === 0) bucket = this.altBucket(hash, bucket);', to: '', occurrence: 1 },
  { module: 'flash', file: T, why: 'full buckets evict the entry of the newest file, not the oldest', from: 'if (victim < 0 || f < victimFile) {', to: 'if (victim < 0 || f > victimFile) {' },
  { module: 'flash', file: T, why: 'overwriting a live entry is not reported', from: 'out.victim = victimFile >= Atomics.load(this.control, K_MIN_FILE);', to: 'out.victim = false;' },
  { module: 'flash', file: T, why: 'an entry in the oldest kept file counts as reclaimed (`<` to `<=`)', from: 'if (f !== IN_WBUF && f < Atomics.load(this.control, K_MIN_FILE)) return true;', to: 'if (f !== IN_WBUF && f <= Atomics.load(this.control, K_MIN_FILE)) return true;' },
  { module: 'flash', file: T, why: 'flash expiry `exptime <= now` becomes `<`', from: 'if (exptime !== 0 && exptime <= now) return true;', to: 'if (exptime !== 0 && exptime < now) return true;' },
  { module: 'flash', file: T, why: 'flash delayed flush spares items stored in the deadline second', from: 'e[i + E_TIME] <= oldestLive;', to: 'e[i + E_TIME] < oldestLive;' },
  { module: 'flash', file: 'server/src/cache/flash/record.ts', why: 'checksum not verified', from: 'return sum === u32(buf, off + R_CRC * 4) ? RECORD_OK : RECORD_BADCRC;', to: 'return RECORD_OK;' },
  { module: 'flash', file: 'server/src/cache/flash/record.ts', why: 'record key length not compared', from: 'if (buf[off + R_KLEN_BYTE] !== klen) return false;', to: '' },
  { module: 'flash', file: 'server/src/cache/flash/record.ts', why: 'a record of unknown type is accepted', from: 'if (type !== TYPE_ITEM && type !== TYPE_TOMBSTONE) return RECORD_TORN;', to: '' },
  { module: 'flash', file: 'server/src/cache/flash/record.ts', why: 'u32 reads byte 3 into bits 16..23', from: '(buf[off + 3] << 24)', to: '(buf[off + 3] << 16)' },
  { module: 'flash', file: 'server/src/cache/flash/files.ts', why: 'log files listed in string order', from: 'return out.sort((a, b) => a - b);', to: 'return out.sort();' },
  { module: 'flash', file: 'server/src/cache/flash/files.ts', why: 'file names padded to 9 digits (recovery finds none)', from: "padStart(10, '0')", to: "padStart(9, '0')" },
  { module: 'flash', file: 'server/src/cache/flash/files.ts', why: 'a pending delayed flush is not read back', from: 'if (m !== null) return Number(m[1]);', to: '' },
  { module: 'flash', file: 'server/src/cache/flash/files.ts', why: 'file table answers for a number it no longer holds', from: 'if (Atomics.load(this.t, i) !== no) return -1;', to: '' },

  // ---- clock --------------------------------------------------------------------------------------------
  { module: 'clock', file: C, why: 'relative TTLs last one second longer', from: 'return exptime + now;', to: 'return exptime + now + 1;' },
  { module: 'clock', file: C, why: 'an absolute time equal to process start is not "already expired"', from: 'if (exptime <= this.processStarted) return 1;', to: 'if (exptime < this.processStarted) return 1;' },
  { module: 'clock', file: C, why: 'absolute times add process start instead of subtracting', from: 'return exptime - this.processStarted;', to: 'return exptime + this.processStarted;' },
  { module: 'clock', file: C, why: '30 days exactly read as an absolute time (`>` to `>=`)', from: 'if (exptime > REALTIME_MAXDELTA) {', to: 'if (exptime >= REALTIME_MAXDELTA) {' },
  { module: 'clock', file: C, why: 'a negative exptime is not "expired at once"', from: 'if (exptime < 0) exptime = REALTIME_MAXDELTA + 1;', to: '' },
  { module: 'clock', file: C, why: 'exptime 0 no longer "never"', from: 'if (exptime === 0) return 0;', to: '' },
  { module: 'clock', file: C, why: 'the ticking cell may go backwards', from: 'if (t > Atomics.load(this.cell, 0)) Atomics.store(this.cell, 0, t);', to: 'Atomics.store(this.cell, 0, t);' },
  { module: 'clock', file: C, why: 'seconds rounded instead of floored', from: 'return Math.floor(Date.now() / 1000) - this.processStarted;', to: 'return Math.round(Date.now() / 1000) - this.processStarted;' },
  { module: 'clock', file: C, why: 'process start without the 2-second margin', from: '- ITEM_UPDATE_INTERVAL - 2, shared);', to: '- ITEM_UPDATE_INTERVAL, shared);' },
  { module: 'clock', file: C, why: 'an unticked shared cell (0) is returned as the time', from: 'if (v !== 0) return v;', to: 'return v;' },

  // ---- sidecar routing / continuum / ring ------------------------------------------------------------------
  { module: 'sidecar', file: RT, why: "'next' policy: failover ring never rebuilt after the first ejection", from: 'if (this.failoverGeneration !== ejectedGeneration) this.rebuildFailover(ejectedGeneration);', to: 'if (this.failover === null) this.rebuildFailover(ejectedGeneration);' },
  { module: 'sidecar', file: RT, why: 'the ejected policies swapped', from: "if (this.policy === 'miss') return null;", to: "if (this.policy !== 'miss') return null;" },
  { module: 'sidecar', file: RT, why: 'an ejected owner still gets its keys', from: 'if (!u.ejected) return u;', to: 'return u;' },
  { module: 'sidecar', file: RT, why: 'the failover ring keeps ejected members', from: 'if (!this.upstreams[i]!.ejected) {', to: 'if (this.upstreams[i]!) {' },
  { module: 'sidecar', file: RT, why: 'draining members stay on the continuum', from: "this.active = spec.members.filter((m) => m.state === 'active');", to: 'this.active = spec.members.filter(() => true);' },
  { module: 'sidecar', file: RT, why: 'keyless fan-out skips draining members', from: 'this.all = spec.members.map(upstreamFor);', to: 'this.all = this.active.map(upstreamFor);' },
  { module: 'sidecar', file: CO, why: "ketama server string keeps port 11211", from: 'return m.port === KETAMA_DEFAULT_PORT ? m.host : `${m.host}:${m.port}`;', to: 'return `${m.host}:${m.port}`;' },
  { module: 'sidecar', file: CO, why: "ketama digests without libmemcached's 1e-10 rounding guard", from: ' + 0.0000000001);', to: ');' },
  { module: 'sidecar', file: CO, why: 'a key hash equal to a point goes to the next point (`<` to `<=`)', from: 'if (points[mid]! < hash) lo = mid + 1;', to: 'if (points[mid]! <= hash) lo = mid + 1;' },
  { module: 'sidecar', file: CO, why: 'a hash past the last point does not wrap to the first', from: 'return lo === points.length ? 0 : lo;', to: 'return lo;' },
  { module: 'sidecar', file: CO, why: 'weights ignored (each member counts 1)', from: 'const total = members.reduce((s, m) => s + m.weight, 0);', to: 'const total = members.length;' },
  { module: 'sidecar', file: RG, why: 'a member listed twice is accepted', from: 'if (seen.has(address)) fail(', to: 'if (false) fail(' },
  { module: 'sidecar', file: RG, why: 'port 65536 accepted', from: 'port < 1 || port > 65535', to: 'port < 1 || port > 65536' },
  { module: 'sidecar', file: RG, why: 'vnodes 0 accepted', from: 'vnodes < 1 || vnodes > MAX_VNODES', to: 'vnodes < 0 || vnodes > MAX_VNODES' },
  { module: 'sidecar', file: RG, why: 'default member state draining', from: "const state = r.state ?? 'active';", to: "const state = r.state ?? 'draining';" },
  { module: 'sidecar', file: RG, why: 'unknown member state accepted', from: "if (state !== 'active' && state !== 'draining') fail(", to: 'if (false) fail(' },
  { module: 'sidecar', file: RG, why: 'version 0 refused', from: 'version < 0)', to: 'version < 1)' },
  { module: 'sidecar', file: RG, why: 'a member without a name is named by host, not host:port', from: 'const name = r.name === undefined ? address : str(', to: 'const name = r.name === undefined ? host : str(' },
  { module: 'sidecar', file: RG, why: 'a host with whitespace accepted', from: 'if (/[\\s]/.test(host)) fail(', to: 'if (false) fail(' },
  { module: 'sidecar', file: RG, why: 'weight 0 accepted', from: 'weight < 1 || weight > 1_000_000', to: 'weight < 0 || weight > 1_000_000' },

  // ---- operator conditions / ring / builders ----------------------------------------------------------------
  { module: 'operator', file: 'operator/src/controller/conditions.ts', why: 'a condition keeps its old observedGeneration when its status does not change', from: 'const merged: Condition = { ...next, lastTransitionTime };', to: 'const merged: Condition = { ...next, ...(old && old.status === next.status ? { observedGeneration: old.observedGeneration } : {}), lastTransitionTime };' },
  { module: 'operator', file: 'operator/src/controller/conditions.ts', why: 'lastTransitionTime never moves', from: 'old && old.status === next.status ? old.lastTransitionTime', to: 'old ? old.lastTransitionTime' },
  { module: 'operator', file: 'operator/src/controller/conditions.ts', why: 'a condition is appended again instead of replaced', from: 'return old ? conditions.map((c) => (c.type === next.type ? merged : c)) : [...conditions, merged];', to: 'return [...conditions, merged];' },
  { module: 'operator', file: 'operator/src/controller/conditions.ts', why: 'lastTransitionTime keeps milliseconds', from: ".replace(/\\.\\d{3}Z$/, 'Z')", to: '' },
  { module: 'operator', file: OR, why: 'member ordinals with a leading zero accepted', from: '/^(0|[1-9][0-9]*)$/', to: '/^[0-9]+$/' },
  { module: 'operator', file: OR, why: "another cluster's member name read as an ordinal", from: 'if (!name.startsWith(prefix)) return -1;', to: '' },
  { module: 'operator', file: OR, why: 'the ordinal equal to the new size is not drained', from: '.filter(({ ordinal }) => ordinal >= replicas)', to: '.filter(({ ordinal }) => ordinal > replicas)' },
  { module: 'operator', file: OR, why: 'a member at its drain deadline is kept one more reconcile (`>=` to `>`)', from: 'if (!startedNow && now.getTime() >= deadline) continue;', to: 'if (!startedNow && now.getTime() > deadline) continue;' },
  { module: 'operator', file: OR, why: 'a member starting to drain with drainSeconds 0 is never published draining', from: 'const startedNow = input.drainingSince[m.name] === undefined;', to: 'const startedNow = false;' },
  { module: 'operator', file: OR, why: 'the StatefulSet shrinks under a draining member', from: 'highestKept = Math.max(highestKept, ordinal);', to: '' },
  { module: 'operator', file: OR, why: 'the ring version bumps on every reconcile', from: 'const version = changed ? floor + 1 : floor;', to: 'const version = floor + 1;' },
  { module: 'operator', file: OR, why: 'a state change alone does not change the ring version', from: 'm.weight === b.weight && m.state === b.state;', to: 'm.weight === b.weight;' },
  { module: 'operator', file: OR, why: 'status.ring.version ignored as the version floor', from: 'const floor = Math.max(previous?.version ?? 0, input.minVersion ?? 0);', to: 'const floor = previous?.version ?? 0;' },
  { module: 'operator', file: OR, why: 'the next drain deadline is the latest, not the earliest', from: 'Math.min(nextDeadline, wait)', to: 'Math.max(nextDeadline, wait)' },
  { module: 'operator', file: OR, why: 'a ring without version or members parsed as a ring', from: "if (typeof doc.version !== 'number' || !Array.isArray(doc.members)) return undefined;", to: '' },
  { module: 'operator', file: OR, why: 'non-string draining-since values kept', from: "if (typeof v === 'string') out[k] = v;", to: 'out[k] = v as string;' },
  { module: 'operator', file: `${B}statefulset.ts`, why: 'memory overhead fraction dropped', from: 'memMiB * (1 + MEMORY_OVERHEAD_FRACTION) + MEMORY_OVERHEAD_FIXED_MIB', to: 'memMiB + MEMORY_OVERHEAD_FIXED_MIB' },
  { module: 'operator', file: `${B}statefulset.ts`, why: 'grace period rounds the flush time down', from: 'Math.ceil(memMiB / FLUSH_MIB_PER_SECOND)', to: 'Math.floor(memMiB / FLUSH_MIB_PER_SECOND)' },
  { module: 'operator', file: `${B}statefulset.ts`, why: 'flash size given whole to ext_path', from: 'mebibytes(quantityBytes(spec.flash.size)) * FLASH_USABLE_FRACTION', to: 'mebibytes(quantityBytes(spec.flash.size))' },
  { module: 'operator', file: `${B}statefulset.ts`, why: 'extraArgs dropped', from: '    ...spec.extraArgs,\n', to: '' },
  { module: 'operator', file: `${B}statefulset.ts`, why: 'the replicas argument ignored', from: 'replicas: replicas ?? spec.replicas', to: 'replicas: spec.replicas' },
  { module: 'operator', file: `${B}statefulset.ts`, why: 'affinity dropped from the pod template', from: '...(affinity ? { affinity } : {}),', to: '' },
  { module: 'operator', file: `${B}statefulset.ts`, why: 'onePerNode read backwards', from: 'if (!spec.onePerNode) return spec.affinity;', to: 'if (spec.onePerNode) return spec.affinity;' },
  { module: 'operator', file: `${B}statefulset.ts`, why: 'spec.resources ignored', from: 'resources: spec.resources ?? derivedResources(spec),', to: 'resources: derivedResources(spec),' },
  { module: 'operator', file: `${B}quantity.ts`, why: 'Ki read as 1000', from: 'Ki: 1024,', to: 'Ki: 1000,' },
  { module: 'operator', file: `${B}quantity.ts`, why: 'MiB rounded down', from: 'return Math.ceil(bytes / 1024 ** 2);', to: 'return Math.floor(bytes / 1024 ** 2);' },
  { module: 'operator', file: `${B}quantity.ts`, why: 'decimal quantities refused', from: '(?:\\.[0-9]+)?', to: '' },
  { module: 'operator', file: `${B}labels.ts`, why: 'selector without the instance (two clusters select each other)', from: '[LABEL_INSTANCE]: cc.metadata.name };', to: "[LABEL_INSTANCE]: 'cachalot' };" },
  { module: 'operator', file: `${B}labels.ts`, why: 'owner reference not the controller', from: 'controller: true,', to: 'controller: false,' },
  { module: 'operator', file: `${B}labels.ts`, why: 'owner reference does not block deletion', from: 'blockOwnerDeletion: true', to: 'blockOwnerDeletion: false' },
  { module: 'operator', file: `${B}labels.ts`, why: "children always in namespace 'default'", from: "namespace: cc.metadata.namespace ?? 'default',", to: "namespace: 'default'," },
  { module: 'operator', file: `${B}pdb.ts`, why: 'minAvailable and maxUnavailable swapped', from: 'pdb.minAvailable !== undefined ?', to: 'pdb.minAvailable === undefined ?' },
  { module: 'operator', file: `${B}pdb.ts`, why: 'a disabled PDB still built', from: 'if (!pdb.enabled) return undefined;', to: '' },
  { module: 'operator', file: `${B}services.ts`, why: 'not-ready members unresolvable', from: 'publishNotReadyAddresses: true', to: 'publishNotReadyAddresses: false' },
  { module: 'operator', file: `${B}services.ts`, why: 'the client Service exposes the metrics port', from: 'ports: [PORTS[0]!]', to: 'ports: PORTS' },
  { module: 'operator', file: `${B}servicemonitor.ts`, why: 'a disabled ServiceMonitor still built', from: 'if (!monitoring.enabled) return undefined;', to: '' },
  { module: 'operator', file: `${B}servicemonitor.ts`, why: 'the ServiceMonitor selects the client Service', from: "[LABEL_SERVICE_ROLE]: 'headless' } },", to: "[LABEL_SERVICE_ROLE]: 'client' } }," },
  { module: 'operator', file: `${B}configmap.ts`, why: 'ring-version annotation off by one', from: "'cachalot.io/ring-version': String(ring.version),", to: "'cachalot.io/ring-version': String(ring.version - 1)," },
];
