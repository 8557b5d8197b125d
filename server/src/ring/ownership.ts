/**
 * Which keys one member owns under a ring document, as every router computes it: the ketama owner among
 * the `active` members (docs/ring.md). A server uses it to drop what it no longer owns, which is safe only
 * once no reader can still route to it or fill from it, so the verdict for a document with `previous` is
 * "transition" (drop nothing).
 *
 * - `transition`: `previous` is present; readers may still read moved keys from their old owners.
 * - `not-member`: the member is not in the document (a misconfigured --ring-member, or a pod that is not
 *   part of this ring): nothing is known about what it owns.
 * - `no-active`: no member is active; no reader routes anywhere, so nothing is gained by dropping.
 * - `owner`: `owns(key)` says whether the member owns the key. A draining member owns nothing: readers
 *   already route its keys to the members that own them once it is gone.
 */
import { Continuum } from './continuum.js';
import type { RingSpec } from './document.js';

export type Ownership =
  | { readonly kind: 'transition' | 'not-member' | 'no-active' }
  | {
    readonly kind: 'owner';
    /** True when the member owns every key (the only active member): nothing to drop. */
    readonly ownsAll: boolean;
    /** True when the member owns nothing (it is draining): every key may be dropped. */
    readonly ownsNone: boolean;
    owns(key: Uint8Array, start: number, end: number): boolean;
  };

export function ownershipOf(spec: RingSpec, member: string): Ownership {
  if (spec.previous !== undefined) return { kind: 'transition' };
  const me = spec.members.find((m) => m.name === member);
  if (me === undefined) return { kind: 'not-member' };
  const active = spec.members.filter((m) => m.state === 'active');
  if (active.length === 0) return { kind: 'no-active' };
  if (me.state !== 'active') return { kind: 'owner', ownsAll: false, ownsNone: true, owns: () => false };
  const mine = active.indexOf(me);
  const continuum = new Continuum(active, spec.vnodes);
  return {
    kind: 'owner',
    ownsAll: active.length === 1,
    ownsNone: false,
    owns: (key, start, end) => continuum.ownerOf(key, start, end) === mine,
  };
}
