/**
 * The ring document (docs/ring.md is its specification) as the sidecar and the server read it: parsed and
 * validated into an immutable RingSpec. A document that fails validation is refused as a whole, so a half-written ConfigMap
 * never replaces a good ring.
 *
 * `previous`, present while a ring change is in progress, is the ring being left: the ring every reader was
 * last fully on. A reader that ignores it still routes every key by `members`, as readers did before it
 * existed; one that reads it can fill a miss from the key's previous owner and invalidate moved keys there.
 *
 * Member states, as the sidecar routes them:
 * - `active`: on the continuum; owns its ketama share of keys.
 * - `draining`: the operator is about to remove it (scale-down publishes leaving members as draining,
 *   waits `drainSeconds`, then shrinks the StatefulSet). A draining member is left OFF the continuum: its
 *   keys move to the members that will own them once it is gone, for reads and writes alike. Routing reads
 *   to it while writes go elsewhere would serve values that are already stale; routing writes to it would
 *   lose them when it leaves. The drain period is therefore the time every sidecar has to stop sending to
 *   the leaving server before its pod disappears, so the shrink itself costs no errors or timeouts. It
 *   still receives keyless fan-out (flush_all), since it still holds data a later scale-up could re-expose.
 */
import { RingError } from './errors.js';

export type MemberState = 'active' | 'draining';

export interface RingMemberSpec {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly weight: number;
  readonly state: MemberState;
  /** "host:port": the upstream's identity (one connection pool per address, shared between rings). */
  readonly address: string;
}

/** The ring being left during a transition: its own version, hash points and members (states included). */
export interface PreviousRingSpec {
  readonly version: number;
  /** The document's `vnodes` unless `previous` names its own (a vnodes change is a transition too). */
  readonly vnodes: number;
  readonly members: readonly RingMemberSpec[];
}

export interface RingSpec {
  readonly cluster: string;
  readonly namespace: string;
  readonly version: number;
  readonly hash: 'ketama-md5';
  /** md5 digests per member at weight share 1 (4 continuum points each): 40 is libketama's 160 points. */
  readonly vnodes: number;
  readonly members: readonly RingMemberSpec[];
  /** Present while a ring change is in progress (docs/ring.md, "States"). */
  readonly previous?: PreviousRingSpec;
}

/** libketama and twemproxy: 40 digests x 4 points = 160 points per server. */
export const DEFAULT_VNODES = 40;
const MAX_MEMBERS = 4096;
const MAX_VNODES = 10_000;

function fail(where: string, msg: string): never {
  throw new RingError('ERR_RING_INVALID', `ring document${where}: ${msg}`);
}

function str(v: unknown, field: string, where: string): string {
  if (typeof v !== 'string' || v.length === 0) fail(where, `${field} must be a non-empty string`);
  return v;
}

/** Parses ring.json text; throws RingError(ERR_RING_INVALID) naming the first bad field. */
export function parseRingDocument(text: string, where = ''): RingSpec {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    fail(where, `not JSON (${(err as Error).message})`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail(where, 'must be a JSON object');
  const doc = raw as Record<string, unknown>;
  const version = doc.version;
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 0) {
    fail(where, 'version must be a non-negative integer');
  }
  const hash = doc.hash ?? 'ketama-md5';
  if (hash !== 'ketama-md5') fail(where, `hash must be "ketama-md5", got ${JSON.stringify(hash)}`);
  const vnodes = checkVnodes(doc.vnodes ?? DEFAULT_VNODES, 'vnodes', where);
  const members = parseMembers(doc.members, 'members', where);
  const previous = doc.previous === undefined ? undefined : parsePrevious(doc.previous, version, vnodes, where);
  return Object.freeze({
    cluster: typeof doc.cluster === 'string' ? doc.cluster : '',
    namespace: typeof doc.namespace === 'string' ? doc.namespace : '',
    version,
    hash: 'ketama-md5',
    vnodes,
    members,
    ...(previous ? { previous } : {}),
  });
}

function checkVnodes(v: unknown, field: string, where: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_VNODES) fail(where, `${field} must be an integer in [1, ${MAX_VNODES}]`);
  return v;
}

/** `previous` is validated as strictly as the document: a reader must never fill from a half-read ring. */
function parsePrevious(raw: unknown, version: number, vnodes: number, where: string): PreviousRingSpec {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail(where, 'previous must be an object');
  const p = raw as Record<string, unknown>;
  const v = p.version;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(where, 'previous.version must be a non-negative integer');
  // Versions only go up, and each change is a new version: a `previous` at or above the document is a mix-up.
  if (v >= version) fail(where, `previous.version (${v}) must be below version (${version})`);
  const pv = p.vnodes === undefined ? vnodes : checkVnodes(p.vnodes, 'previous.vnodes', where);
  return Object.freeze({ version: v, vnodes: pv, members: parseMembers(p.members, 'previous.members', where) });
}

function parseMembers(raw: unknown, field: string, where: string): readonly RingMemberSpec[] {
  if (!Array.isArray(raw)) fail(where, `${field} must be an array`);
  if (raw.length > MAX_MEMBERS) fail(where, `more than ${MAX_MEMBERS} ${field}`);
  const seen = new Set<string>();
  const members = raw.map((m: unknown, i: number): RingMemberSpec => {
    const at = `${field}[${i}]`;
    if (m === null || typeof m !== 'object') fail(where, `${at} must be an object`);
    const r = m as Record<string, unknown>;
    const host = str(r.host, `${at}.host`, where);
    if (/[\s]/.test(host)) fail(where, `${at}.host must not contain whitespace`);
    const port = r.port ?? 11211;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
      fail(where, `${at}.port must be an integer in [1, 65535]`);
    }
    const weight = r.weight ?? 1;
    if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 1 || weight > 1_000_000) {
      fail(where, `${at}.weight must be an integer in [1, 1000000]`);
    }
    const state = r.state ?? 'active';
    if (state !== 'active' && state !== 'draining') fail(where, `${at}.state must be "active" or "draining"`);
    const address = `${host}:${port}`;
    if (seen.has(address)) fail(where, `${at}: ${address} is listed twice`);
    seen.add(address);
    const name = r.name === undefined ? address : str(r.name, `${at}.name`, where);
    return Object.freeze({ name, host, port, weight, state, address });
  });
  return Object.freeze(members);
}
