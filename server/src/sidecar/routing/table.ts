/**
 * A routing table: one ring version turned into a continuum over its active members and their upstreams.
 * Tables are immutable; a new ring builds a new table and the sidecar swaps one reference, so a request
 * routed on the old table finishes there (its parts are already queued on the old upstreams) and a request
 * parsed after the swap uses the new one. Nothing is dropped or re-routed mid-flight.
 *
 * Ejected owners (upstream/upstream.ts): with `ejected: 'miss'` the key is answered as a miss or SERVER_ERROR without
 * any server; with `ejected: 'next'` it goes to the member that owns it on a continuum built without the
 * ejected members (twemproxy's auto_eject_hosts), recomputed only when the ejected set changes.
 */
import { Continuum } from '../../ring/continuum.js';
import type { RingMemberSpec, RingSpec } from '../../ring/document.js';
import type { Upstream } from '../upstream/upstream.js';

export type EjectedPolicy = 'miss' | 'next';

export class RoutingTable {
  /** Members on the continuum (state active), and their upstreams, index for index. */
  readonly active: readonly RingMemberSpec[];
  readonly upstreams: readonly Upstream[];
  /** Every member's upstream, draining ones included: keyless fan-out (flush_all) reaches them all. */
  readonly all: readonly Upstream[];
  private readonly continuum: Continuum;
  private failover: Continuum | null = null;
  private failoverUpstreams: Upstream[] = [];
  private failoverGeneration = -1;

  constructor(
    readonly spec: RingSpec,
    upstreamFor: (m: RingMemberSpec) => Upstream,
    private readonly policy: EjectedPolicy,
  ) {
    this.active = spec.members.filter((m) => m.state === 'active');
    this.upstreams = this.active.map(upstreamFor);
    this.all = spec.members.map(upstreamFor);
    this.continuum = new Continuum(this.active, spec.vnodes);
  }

  get version(): number {
    return this.spec.version;
  }

  /**
   * The upstream for a key's bytes, or null when the key must be answered without a server (no members,
   * or its owner is ejected under the 'miss' policy, or every member is ejected). `ejectedGeneration` changes
   * whenever any upstream's ejection state does.
   */
  route(key: Uint8Array, start: number, end: number, ejectedGeneration: number): Upstream | null {
    const i = this.continuum.ownerOf(key, start, end);
    if (i < 0) return null;
    const u = this.upstreams[i]!;
    if (!u.ejected) return u;
    if (this.policy === 'miss') return null;
    if (this.failoverGeneration !== ejectedGeneration) this.rebuildFailover(ejectedGeneration);
    const f = this.failover!.ownerOf(key, start, end);
    return f < 0 ? null : this.failoverUpstreams[f]!;
  }

  /** The owning member's index among `active` (for tests and tooling), ignoring health. */
  ownerIndex(key: Uint8Array): number {
    return this.continuum.ownerOf(key);
  }

  private rebuildFailover(generation: number): void {
    const members: RingMemberSpec[] = [];
    const ups: Upstream[] = [];
    this.active.forEach((m, i) => {
      if (!this.upstreams[i]!.ejected) {
        members.push(m);
        ups.push(this.upstreams[i]!);
      }
    });
    this.failover = new Continuum(members, this.spec.vnodes);
    this.failoverUpstreams = ups;
    this.failoverGeneration = generation;
  }
}
