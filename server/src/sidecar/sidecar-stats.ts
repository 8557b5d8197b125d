/**
 * The sidecar's own `stats` reply: memcached's framing (STAT name value ... END) with the general names a
 * client or tool expects where they mean the same thing, plus the proxy's ring and upstream state. A proxy
 * has no items or memory of its own, so it reports none rather than summing its servers'.
 */
import { VERSION } from '../protocol/version.js';

export class SidecarStats {
  curr_connections = 0;
  total_connections = 0;
  /** Keys asked for by get/gets/gat/gats (memcached's cmd_get counts keys too). */
  cmd_get = 0;
  cmd_set = 0;
  cmd_touch = 0;
  cmd_flush = 0;
  cmd_meta = 0;
  /** Keys or requests answered without a server: no ring, or an ejected owner under the miss policy. */
  unrouted = 0;
  /** Requests answered by the sidecar itself (version, mn, stats, protocol errors). */
  local_replies = 0;
  ring_reloads = 0;
  ring_reload_errors = 0;
  /** Ring transitions: misses at a key's owner asked of its previous owner, and those it answered with a value. */
  transition_fill_asks = 0;
  transition_fills = 0;
  /** Ring transitions: deletes sent to a written key's previous owner. */
  transition_invalidations = 0;
  /** --listen-auth-file: memcached's auth_cmds (attempts checked) and auth_errors (attempts refused). */
  auth_cmds = 0;
  auth_errors = 0;
  /** --listen-tls-*: connections closed before their handshake completed (memcached's ssl_handshake_errors). */
  ssl_handshake_errors = 0;

  reset(): void {
    this.auth_cmds = this.auth_errors = this.ssl_handshake_errors = 0;
    this.transition_fill_asks = this.transition_fills = this.transition_invalidations = 0;
    this.total_connections = this.cmd_get = this.cmd_set = this.cmd_touch = this.cmd_flush = this.cmd_meta = 0;
    this.unrouted = this.local_replies = this.ring_reloads = this.ring_reload_errors = 0;
  }
}

export interface StatsView {
  readonly stats: SidecarStats;
  readonly startedAt: number;
  ringVersion(): number;
  membersByState(): { active: number; draining: number };
  upstreamSummary(): { servers: number; ejected: number; inFlight: number };
  /** The spin time in use (--spin-us, or 0 under a CPU limit below one CPU: cpuquota.ts). */
  readonly spinUs: number;
}

/** `stats` and `stats reset`; null for sub-commands the sidecar does not have (answered ERROR). */
export function statsReply(view: StatsView, sub: string): Buffer | null {
  if (sub === 'reset') {
    view.stats.reset();
    return Buffer.from('RESET\r\n');
  }
  if (sub !== '') return null;
  const s = view.stats;
  const now = Date.now();
  const members = view.membersByState();
  const up = view.upstreamSummary();
  const rows: Array<[string, string | number]> = [
    ['pid', process.pid],
    ['uptime', Math.floor((now - view.startedAt) / 1000)],
    ['time', Math.floor(now / 1000)],
    ['version', VERSION],
    ['proxy', 'cachalot-sidecar'],
    ['curr_connections', s.curr_connections],
    ['total_connections', s.total_connections],
    ['cmd_get', s.cmd_get],
    ['cmd_set', s.cmd_set],
    ['cmd_touch', s.cmd_touch],
    ['cmd_flush', s.cmd_flush],
    ['cmd_meta', s.cmd_meta],
    ['ring_version', view.ringVersion()],
    ['ring_members_active', members.active],
    ['ring_members_draining', members.draining],
    ['ring_reloads', s.ring_reloads],
    ['ring_reload_errors', s.ring_reload_errors],
    ['transition_fill_asks', s.transition_fill_asks],
    ['transition_fills', s.transition_fills],
    ['transition_invalidations', s.transition_invalidations],
    ['upstream_servers', up.servers],
    ['upstream_ejected', up.ejected],
    ['upstream_in_flight', up.inFlight],
    ['unrouted', s.unrouted],
    ['local_replies', s.local_replies],
    ['auth_cmds', s.auth_cmds],
    ['auth_errors', s.auth_errors],
    ['ssl_handshake_errors', s.ssl_handshake_errors],
    ['spin_us', view.spinUs],
  ];
  let text = '';
  for (const [k, v] of rows) text += `STAT ${k} ${v}\r\n`;
  return Buffer.from(text + 'END\r\n', 'latin1');
}
