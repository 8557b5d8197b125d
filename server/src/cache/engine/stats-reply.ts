/**
 * `stats` replies in memcached's format ("STAT name value\r\n" ... "END\r\n"), with memcached's names
 * and number formats so that memcached_exporter, memcstat and dashboards read them unchanged. The values
 * come from a StatsSource the worker implements over shared counters and the store.
 */
import type { OutBuf } from '../../protocol/outbuf.js';
import type { StatLines, StatValue, StatsSource } from '../metrics/stats-source.js';

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
