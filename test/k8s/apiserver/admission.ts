/**
 * The OwnerReferencesPermissionEnforcement admission plugin (plugin/pkg/admission/gc), which OpenShift and
 * hardened clusters enable: changing an object's ownerReferences needs `delete` on the object, and a new
 * blockOwnerDeletion=true reference needs `update` on the owner's `finalizers` subresource. Without the
 * latter, every child an operator creates with a controller reference is refused.
 */
import { sameJson } from './canonical.js';
import { isObject, type Json, type JsonObject } from './patch.js';
import type { ResourceDef } from './resources.js';
import { forbidden, type Authorizer, type UserInfo } from './rbac.js';
import { meta, type Store } from './store.js';

function refs(o: JsonObject | undefined): JsonObject[] {
  const r = o ? meta(o).ownerReferences : undefined;
  return Array.isArray(r) ? r.filter(isObject) : [];
}

const blocking = (r: JsonObject): boolean => r.blockOwnerDeletion === true;

export function ownerReferencesPermission(store: Store, authz: Authorizer, user: UserInfo, def: ResourceDef, subresource: string | undefined, prev: JsonObject | undefined, next: JsonObject): void {
  // pods/status is exempt in the real plugin: the status strategy keeps ownerReferences anyway.
  if (def.group === '' && def.plural === 'pods' && subresource === 'status') return;
  const before = refs(prev);
  const after = refs(next);
  if (prev ? sameJson(before as Json, after as Json) : after.length === 0) return;
  const m = meta(next);
  const namespace = def.namespaced ? String(m.namespace) : undefined;
  const name = String(m.name);
  const target = { group: def.group, resource: def.plural, name };
  const attrs = { user, group: def.group, resource: def.plural, ...(subresource ? { subresource } : {}), ...(namespace ? { namespace } : {}), name };
  if (!authz.allowed({ ...attrs, verb: 'delete' })) throw forbidden(target, "cannot set an ownerRef on a resource you can't delete: , <nil>");
  const oldByUid = new Map(before.map((r) => [String(r.uid), r]));
  for (const ref of after.filter(blocking)) {
    const old = oldByUid.get(String(ref.uid));
    if (old && blocking(old)) continue;
    const apiVersion = String(ref.apiVersion);
    const owner = store.lookupKind(apiVersion, String(ref.kind));
    if (!owner) {
      throw forbidden(target, `cannot set blockOwnerDeletion in this case because cannot find RESTMapping for APIVersion ${apiVersion} Kind ${String(ref.kind)}: , no matches for kind "${String(ref.kind)}" in version "${apiVersion}"`);
    }
    const ok = authz.allowed({ user, verb: 'update', group: owner.group, resource: owner.plural, subresource: 'finalizers', ...(namespace ? { namespace } : {}), name: String(ref.name) });
    if (!ok) throw forbidden(target, "cannot set blockOwnerDeletion if an ownerReference refers to a resource you can't set finalizers on: , <nil>");
  }
}
