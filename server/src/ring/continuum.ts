/**
 * The ketama continuum, computed as libmemcached (MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA with
 * ketama_weighted) and twemproxy compute it, so that a plain ketama client given the same member list puts
 * every key on the same server (verified against python3-pylibmc in test/unit/ring/ketama-pylibmc.test.ts):
 *
 * - each member gets floor(weight/total * vnodes * members + 1e-10) md5 digests, in C `float` arithmetic
 *   (Math.fround at each step, as the C expression rounds), 4 points per digest;
 * - digest i of a member hashes "host-i" when its port is 11211 and "host:port-i" otherwise;
 * - a key hashes to the first 4 bytes of md5(key) little-endian and belongs to the first point >= it,
 *   wrapping to the first point.
 *
 * The points come from `hashring` (its ketama mode, with the per-member digest counts above handed in as
 * vnodes, because hashring's own floor() of a double can give 39 instead of 40 for 3 equal members). Lookup
 * is a binary search over a Uint32Array copy with the key's md5 taken over its bytes, not a JS string:
 * memcached keys are bytes.
 */
import { createHash } from 'node:crypto';
import HashRing from 'hashring';
import { md5First32 } from './md5.js';

const KETAMA_DEFAULT_PORT = 11211;
const BUCKET_SHIFT = 20;
const BUCKETS = 2 ** (32 - BUCKET_SHIFT);
const BUCKET_WIDTH = 2 ** BUCKET_SHIFT;
const POINTS_PER_DIGEST = 4;

export interface ContinuumMember {
  readonly host: string;
  readonly port: number;
  readonly weight: number;
}

/** libketama's server string: the port is left out when it is memcached's default. */
export function ketamaServerString(m: ContinuumMember): string {
  return m.port === KETAMA_DEFAULT_PORT ? m.host : `${m.host}:${m.port}`;
}

/** Digests (each giving 4 points) for a member, exactly as libmemcached's float expression computes them. */
export function ketamaDigests(weight: number, totalWeight: number, members: number, vnodes: number): number {
  const f = Math.fround;
  const pct = f(f(weight) / f(totalWeight));
  return Math.floor(f(f(f(pct * f(vnodes * POINTS_PER_DIGEST)) / POINTS_PER_DIGEST) * f(members)) + 0.0000000001);
}

function md5(data: string): Buffer {
  return createHash('md5').update(data).digest();
}

export class Continuum {
  /** Continuum points, ascending. */
  readonly points: Uint32Array;
  /** owners[i]: index (into the members given to the constructor) of the member owning points[i]. */
  readonly owners: Int32Array;
  readonly memberCount: number;
  /**
   * bucketStart[b]: index of the first point >= b << BUCKET_SHIFT (points.length past the last), so a lookup
   * binary-searches only the points of one bucket: usually none or one (3 members: 480 points over 4096
   * buckets), instead of nine steps over the whole continuum. 16 KiB, which stays in cache.
   */
  private readonly bucketStart: Int32Array;

  constructor(members: readonly ContinuumMember[], vnodes: number) {
    this.memberCount = members.length;
    if (members.length === 0) {
      this.points = new Uint32Array(0);
      this.owners = new Int32Array(0);
      this.bucketStart = new Int32Array(BUCKETS + 1);
      return;
    }
    const total = members.reduce((s, m) => s + m.weight, 0);
    const servers: Record<string, { vnodes: number }> = {};
    const indexByString = new Map<string, number>();
    members.forEach((m, i) => {
      // hashring names a server "host:port"; with `default port` it hashes just the host for 11211.
      const key = `${m.host}:${m.port}`;
      servers[key] = { vnodes: Math.max(1, ketamaDigests(m.weight, total, members.length, vnodes)) };
      indexByString.set(key, i);
    });
    // 'vnode count' -1 makes hashring take every member's vnodes as given instead of re-deriving them.
    const ring = new HashRing(servers, (s: string) => md5(s), {
      'vnode count': -1, replicas: POINTS_PER_DIGEST, 'default port': KETAMA_DEFAULT_PORT, 'max cache size': 1,
    });
    const nodes = (ring as unknown as { ring: Array<{ value: number; server: string }> }).ring;
    this.points = new Uint32Array(nodes.length);
    this.owners = new Int32Array(nodes.length);
    for (let i = 0; i < nodes.length; i++) {
      this.points[i] = nodes[i]!.value;
      this.owners[i] = indexByString.get(nodes[i]!.server) ?? -1;
    }
    this.bucketStart = new Int32Array(BUCKETS + 1);
    for (let b = 0, i = 0; b <= BUCKETS; b++) {
      const low = b * BUCKET_WIDTH; // 2^32 for b = BUCKETS: past every point
      while (i < this.points.length && this.points[i]! < low) i++;
      this.bucketStart[b] = i;
    }
  }

  /** Index of the first point >= hash, wrapping to 0 (libmemcached's lower bound over the continuum). */
  pointFor(hash: number): number {
    const points = this.points;
    // The answer lies between the lower bounds of the hash's 2^20-wide bucket and the next one's.
    const bucket = hash >>> BUCKET_SHIFT;
    let lo = this.bucketStart[bucket]!;
    let hi = this.bucketStart[bucket + 1]!;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (points[mid]! < hash) lo = mid + 1;
      else hi = mid;
    }
    return lo === points.length ? 0 : lo;
  }

  /**
   * The owning member's index for the key bytes buf[start, end); -1 on an empty continuum. ketama's key hash
   * is md5(key) bytes 0..3 little-endian.
   */
  ownerOf(buf: Uint8Array, start = 0, end = buf.length): number {
    if (this.memberCount <= 1) return this.memberCount - 1;
    return this.owners[this.pointFor(md5First32(buf, start, end))]!;
  }
}
