/**
 * Administration: flush_all, verbosity, cache_memlimit, shutdown, slabs, lru, lru_crawler, watch. The
 * ones that tune memcached's slab allocator and LRUs accept memcached's syntax and change nothing: the
 * segment store has neither.
 */
import { parseU32 } from '../../protocol/numbers.js';
import type { Request } from '../../protocol/request.js';
import { SHUTDOWN_NOT_ENABLED } from '../../protocol/replies.js';
import { C } from '../metrics/counters.js';
import type { EngineContext } from './context.js';
import { WANT_CLOSE, type Session } from './session.js';

export function flushAll(e: EngineContext, s: Session, req: Request): void {
  e.counters.row[C.cmd_flush]++;
  if (!e.settings.flushEnabled) {
    e.outString(s, 'CLIENT_ERROR flush_all not allowed');
    return;
  }
  if (req.error !== null) {
    e.outString(s, req.error);
    return;
  }
  const exptime = req.exptime;
  if (exptime > 0) {
    // Delayed: items last used at or before that second die once it arrives (settings.oldest_live).
    const oldestLive = e.clock.realtime(exptime, e.now) - 1;
    e.store.setOldestLive(oldestLive);
  } else {
    e.store.flushAll(e.now);
  }
  e.outString(s, 'OK');
}

export function verbosity(e: EngineContext, s: Session, req: Request): void {
  const level = req.flags;
  e.hooks.setVerbosity(level > 2 ? 2 : level);
  e.outString(s, 'OK');
}

export function memlimit(e: EngineContext, s: Session, ntokens: number): void {
  const t = e.t;
  const mb = parseU32(t.buf, t.starts[1], t.ends[1]);
  if (Number.isNaN(mb)) e.outString(s, 'ERROR');
  else if (mb < 8) e.outString(s, 'MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m');
  else if (mb > 1000000000) e.outString(s, 'MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes');
  // The pool's address space is reserved at start (-o memory_reserve); the limit moves within it.
  else if (e.store.setMemoryLimit(mb * 1024 * 1024)) e.outString(s, 'OK');
  else e.outString(s, 'MEMLIMIT_ADJUST_FAILED out of bounds or unable to adjust');
}

export function shutdown(e: EngineContext, s: Session, ntokens: number): void {
  if (!e.settings.shutdownEnabled) {
    e.outString(s, SHUTDOWN_NOT_ENABLED);
    return;
  }
  if (ntokens === 2) {
    s.want = WANT_CLOSE;
    e.hooks.shutdown(false);
  } else if (ntokens === 3 && e.t.is(1, 'graceful')) {
    s.want = WANT_CLOSE;
    e.hooks.shutdown(true);
  } else {
    e.outString(s, 'CLIENT_ERROR invalid shutdown mode');
  }
}

export function slabs(e: EngineContext, s: Session, ntokens: number): void {
  const t = e.t;
  if (ntokens === 5 && t.is(1, 'reassign')) {
    // There are no slab classes to move pages between: segments serve every item size.
    e.outString(s, 'CLIENT_ERROR slab reassignment disabled');
  } else if (ntokens >= 4 && t.is(1, 'automove')) {
      if (t.is(2, 'ratio')) {
      if (ntokens < 5 || Number.isNaN(Number(t.text(3)))) e.outString(s, 'ERROR');
      else e.outString(s, 'OK');
      return;
    }
    const level = parseU32(t.buf, t.starts[2], t.ends[2]);
    if (Number.isNaN(level)) e.outString(s, 'CLIENT_ERROR bad command line format');
    else if (level > 2) e.outString(s, 'ERROR');
    else e.outString(s, 'OK');
  } else {
    e.outString(s, 'ERROR');
  }
}

export function lruCrawler(e: EngineContext, s: Session, ntokens: number): void {
  const t = e.t;
  if (ntokens === 4 && (t.is(1, 'crawl'))) {
    // Expired segments are dropped whole as allocation passes them; there is no crawl to start.
    e.outString(s, 'OK');
  } else if (ntokens === 4 && t.is(1, 'metadump')) {
    e.outString(s, 'ERROR metadump not allowed');
  } else if (ntokens === 4 && (t.is(1, 'tocrawl') || t.is(1, 'sleep'))) {
    const v = parseU32(t.buf, t.starts[2], t.ends[2]);
    if (Number.isNaN(v)) e.outString(s, 'CLIENT_ERROR bad command line format');
    else if (t.is(1, 'sleep') && v > 1000000) e.outString(s, 'CLIENT_ERROR sleep must be one second or less');
    else e.outString(s, 'OK');
  } else if (ntokens === 3 && (t.is(1, 'enable') || t.is(1, 'disable'))) {
    e.outString(s, 'OK');
  } else {
    e.outString(s, 'ERROR');
  }
}

export function lru(e: EngineContext, s: Session, ntokens: number): void {
  // The segment store has no hot/warm/cold LRUs to tune; accept memcached's syntax, change nothing.
  const t = e.t;
  if ((t.is(1, 'tune') && ntokens >= 7) || ((t.is(1, 'mode') || t.is(1, 'temp_ttl')) && ntokens >= 4)) {
    e.outString(s, 'OK');
  } else {
    e.outString(s, 'ERROR');
  }
}

export function watch(e: EngineContext, s: Session): void {
  e.outString(s, 'CLIENT_ERROR watch commands not allowed');
}

/** memcached's process_refresh_certs_command: "OK" (noreply honoured), or the error text always. */
export function refreshCerts(e: EngineContext, s: Session): void {
  const error = e.hooks.refreshCerts === undefined ? 'Error TLS not enabled' : e.hooks.refreshCerts();
  if (error === undefined) e.outString(s, 'OK');
  else e.outErr(s, error);
}
