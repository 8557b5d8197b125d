/**
 * `stats` and its replies in memcached's format ("STAT name value\r\n" ... "END\r\n"), with memcached's names
 * and number formats so that memcached_exporter, memcstat and dashboards read them unchanged. The values
 * come from a StatsSource the worker implements over shared counters and the store.
 */
import type { OutBuf } from '../../protocol/outbuf.js';
import type { StatLines, StatValue, StatsSource } from '../metrics/stats-source.js';
import type { EngineContext } from './context.js';
import type { Session } from './session.js';

function formatValue(v: StatValue): string {
  return typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(6)) : v;
}

/** Writes the group `sub` ('' for the general stats); returns false for an unknown group. */
export function writeStats(out: OutBuf, source: StatsSource, sub: string): boolean {
  let lines: StatLines | undefined;
  switch (sub) {
    case '': lines = source.general(); break;
    case 'settings': lines = source.settings(); break;
    case 'items': lines = source.items(); break;
    case 'slabs': lines = source.slabs(); break;
    case 'conns': lines = source.conns(); break;
    case 'sizes': lines = [['sizes_status', 'disabled']]; break;
    default: lines = source.group?.(sub);
  }
  if (lines === undefined) return false;
  let text = '';
  for (const [name, value] of lines) text += `STAT ${name} ${formatValue(value)}\r\n`;
  text += 'END\r\n';
  out.ascii(text);
  return true;
}

/** stats [group], stats reset, stats detail, stats cachedump (memcached's process_stat). */
export function stats(e: EngineContext, s: Session, ntokens: number): void {
  const t = e.t;
  if (ntokens === 2) {
    writeStats(s.out, e.statsSource, '');
    return;
  }
  if (t.is(1, 'reset')) {
    e.statsSource.reset();
    e.prefixes.clear();
    e.outString(s, 'RESET');
    return;
  }
  if (t.is(1, 'detail')) {
    if (ntokens < 4) e.outString(s, 'CLIENT_ERROR usage: stats detail on|off|dump');
    else if (t.is(2, 'on') || t.is(2, 'off')) {
      e.prefixes.setEnabled(t.is(2, 'on'));
      e.outString(s, 'OK');
    } else if (t.is(2, 'dump')) {
      const dump = e.prefixes.dump();
      s.out.bytes(dump, 0, dump.length);
    }
    else e.outString(s, 'CLIENT_ERROR usage: stats detail on|off|dump');
    return;
  }
  if (t.is(1, 'cachedump')) {
    if (ntokens < 5) e.outString(s, 'CLIENT_ERROR bad command line');
    else s.out.ascii('END\r\n');
    return;
  }
  const sub = t.text(1);
  if (!writeStats(s.out, e.statsSource, sub)) e.outString(s, 'ERROR');
}
