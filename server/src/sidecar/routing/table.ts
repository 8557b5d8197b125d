/**
 * A routing table: one ring version turned into a continuum over its active members and their upstreams.
 * Tables are immutable; a new ring builds a new table and the sidecar swaps one reference, so a request
 * routed on the old table finishes there (its parts are already queued on the old upstreams) and a request
 * parsed after the swap uses the new one. Nothing is dropped or re-routed mid-flight.
 *
 * Ejected owners (upstream/upstream.ts): with `ejected: 'miss'` the key is answered as a miss or SERVER_ERROR without
 * any server; with `ejected: 'next'` it goes to the member that owns it on a continuum built without the
 * ejected members (twemproxy's auto_eject_hosts), recomputed only when the ejected set changes.
 *
 * During a transition (the document has `previous`) the table also holds the continuum of the ring being
 * left, over that ring's `active` members (its draining members were already off its continuum, so they
 * owned nothing). `previousOwner()` names a key's owner there when it differs from the owner now: where a
 * miss is filled from and where a write's stale copy is deleted (routing/transition.ts). Without `previous`
 * it is null and the dispatcher never asks.
 */
import { Continuum } from '../../ring/continuum.js';
import type { RingMemberSpec, RingSpec } from '../../ring/document.js';
import type { Upstream } from '../upstream/upstream.js';

export type EjectedPolicy = 'miss' | 'next';

export class RoutingTable {
  /** Members on the continuum (state active), and their upstreams, index for index. */
  readonly active: readonly RingMemberSpec[];
  readonly upstreams: readonly Upstream[];
  /**
   * Every member's upstream, draining ones and `previous` ones included: keyless fan-out (flush_all) reaches
   * every server that may hold data a reader can be served.
   */
  readonly all: readonly Upstream[];
  /** The ring being left (null outside a transition): its continuum and its active members' upstreams. */
  readonly previous: Continuum | null;
  private readonly previousUpstreams: readonly Upstream[];
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
    const all = spec.members.map(upstreamFor);
    this.continuum = new Continuum(this.active, spec.vnodes);
    const prev = spec.previous;
    if (prev === undefined) {
      this.previous = null;
      this.previousUpstreams = [];
    } else {
      const prevActive = prev.members.filter((m) => m.state === 'active');
      this.previous = new Continuum(prevActive, prev.vnodes);
      this.previousUpstreams = prevActive.map(upstreamFor);
      for (const m of prev.members) {
        const u = upstreamFor(m);
        if (!all.includes(u)) all.push(u);
      }
    }
    this.all = all;
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

  /**
   * The key's owner under `previous` when that is not `owner` (the upstream the key is routed to now) and can
   * be asked (not ejected); null otherwise, and always outside a transition.
   */
  previousOwner(key: Uint8Array, start: number, end: number, owner: Upstream | null): Upstream | null {
    const prev = this.previous;
    if (prev === null) return null;
    const i = prev.ownerOf(key, start, end);
    if (i < 0) return null;
    const u = this.previousUpstreams[i]!;
    return u === owner || u.ejected ? null : u;
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
