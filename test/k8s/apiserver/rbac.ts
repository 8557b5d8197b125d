/**
 * Authentication and RBAC authorization of the API server double, from the Role, ClusterRole, RoleBinding and
 * ClusterRoleBinding objects stored in it (tests install the chart's own, rendered by helm): a verb the
 * chart does not grant fails with 403 and the real Forbidden Status, as on a cluster. Not modelled:
 * aggregated ClusterRoles, the default system: roles beyond discovery, Node and Webhook authorizers.
 */
import { isObject, type JsonObject } from './patch.js';
import type { ResourceDef } from './resources.js';
import { ApiError, meta, type Store } from './store.js';

export interface UserInfo {
  name: string;
  groups: string[];
}

/** The identity of a request without a bearer token: the test's own setup, as cluster-admin (system:masters). */
export const ADMIN: UserInfo = { name: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] };

/** The user a ServiceAccount token authenticates as, with the groups kube-apiserver gives it. */
export function serviceAccountUser(namespace: string, name: string): UserInfo {
  return { name: `system:serviceaccount:${namespace}:${name}`, groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'] };
}

export interface Attributes {
  user: UserInfo;
  verb: string;
  group: string;
  /** Plural resource name. */
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs?: string[];
  resourceNames?: string[];
}

function ruleAllows(r: Rule, a: Attributes): boolean {
  const has = (list: string[] | undefined, v: string) => (list ?? []).includes('*') || (list ?? []).includes(v);
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  if (!has(r.verbs, a.verb) || !has(r.apiGroups, a.group)) return false;
  const resources = r.resources ?? [];
  if (!(resources.includes('*') || resources.includes(resource) || (a.subresource && resources.includes(`*/${a.subresource}`)))) return false;
  if (r.resourceNames && r.resourceNames.length > 0) return a.name !== undefined && a.verb !== 'create' && r.resourceNames.includes(a.name);
  return true;
}

function subjectMatches(subjects: unknown, user: UserInfo, bindingNamespace: string | undefined): boolean {
  if (!Array.isArray(subjects)) return false;
  return subjects.some((s) => {
    if (!isObject(s)) return false;
    if (s.kind === 'ServiceAccount') return user.name === `system:serviceaccount:${String(s.namespace ?? bindingNamespace)}:${String(s.name)}`;
    if (s.kind === 'User') return user.name === s.name;
    if (s.kind === 'Group') return user.groups.includes(String(s.name));
    return false;
  });
}

export class Authorizer {
  private readonly defs: Record<'cr' | 'crb' | 'role' | 'rb', ResourceDef>;

  constructor(private readonly store: Store) {
    const d = (plural: string) => store.lookup('rbac.authorization.k8s.io/v1', plural)!;
    this.defs = { cr: d('clusterroles'), crb: d('clusterrolebindings'), role: d('roles'), rb: d('rolebindings') };
  }

  allowed(a: Attributes): boolean {
    if (a.user.groups.includes('system:masters')) return true;
    const rulesOf = (kind: unknown, name: unknown, ns: string | undefined): Rule[] => {
      const role = kind === 'ClusterRole' ? this.store.tryGet(this.defs.cr, undefined, String(name)) : ns ? this.store.tryGet(this.defs.role, ns, String(name)) : undefined;
      return role && Array.isArray(role.rules) ? (role.rules as unknown as Rule[]) : [];
    };
    const grants = (binding: JsonObject, ns: string | undefined): boolean => {
      const ref = isObject(binding.roleRef) ? binding.roleRef : {};
      return subjectMatches(binding.subjects, a.user, ns) && rulesOf(ref.kind, ref.name, ns).some((r) => ruleAllows(r, a));
    };
    if (this.store.list(this.defs.crb).items.some((b) => grants(b, undefined))) return true;
    if (!a.namespace) return false;
    return this.store.list(this.defs.rb, a.namespace).items.some((b) => grants(b, String(meta(b).namespace)));
  }

  /** Throws the Forbidden Status kube-apiserver answers when RBAC denies the request. */
  check(a: Attributes): void {
    if (!this.allowed(a)) throw forbidden(a, denial(a));
  }
}

/** `User "u" cannot update resource "cacheclusters/finalizers" in API group "cachalot.io" in the namespace "default"` */
export function denial(a: Attributes): string {
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const scope = a.namespace ? `in the namespace "${a.namespace}"` : 'at the cluster scope';
  return `User "${a.user.name}" cannot ${a.verb} resource "${resource}" in API group "${a.group}" ${scope}`;
}

/** 403 in kube-apiserver's shape: `statefulsets.apps "web" is forbidden: <reason>`. */
export function forbidden(a: { group: string; resource: string; name?: string }, reason: string): ApiError {
  const qualified = a.group ? `${a.resource}.${a.group}` : a.resource;
  const subject = a.name ? `${qualified} "${a.name}"` : qualified;
  return new ApiError(403, 'Forbidden', `${subject} is forbidden: ${reason}`, { ...(a.name ? { name: a.name } : {}), group: a.group, kind: a.resource });
}

/**
 * RBAC's escalation prevention, which kube-apiserver applies to every write of a Role or ClusterRole and of a
 * binding: the writer must already hold every permission the role grants (checked rule by rule, for each verb,
 * group, resource and resource name listed), unless it may `escalate` roles (for a role) or `bind` the role it
 * references (for a binding). So an operator can hand its pods only permissions it has itself.
 */
export function rbacEscalation(store: Store, authz: Authorizer, user: UserInfo, def: ResourceDef, next: JsonObject): void {
  if (def.group !== 'rbac.authorization.k8s.io' || user.groups.includes('system:masters')) return;
  const m = meta(next);
  const namespace = def.namespaced ? String(m.namespace) : undefined;
  const name = String(m.name);
  const scope = namespace ? { namespace } : {};
  let rules: unknown;
  if (def.plural === 'roles' || def.plural === 'clusterroles') {
    if (authz.allowed({ user, verb: 'escalate', group: def.group, resource: def.plural, ...scope, name })) return;
    rules = next.rules;
  } else if (def.plural === 'rolebindings' || def.plural === 'clusterrolebindings') {
    const ref = isObject(next.roleRef) ? next.roleRef : {};
    const kind = ref.kind === 'ClusterRole' ? 'clusterroles' : 'roles';
    if (authz.allowed({ user, verb: 'bind', group: def.group, resource: kind, ...(kind === 'roles' ? scope : {}), name: String(ref.name) })) return;
    const roleDef = store.lookup('rbac.authorization.k8s.io/v1', kind)!;
    const role = store.tryGet(roleDef, kind === 'roles' ? namespace : undefined, String(ref.name));
    rules = role?.rules;
  } else return;
  const missing: string[] = [];
  for (const r of (Array.isArray(rules) ? rules : []).filter(isObject) as Rule[]) {
    const names = r.resourceNames && r.resourceNames.length > 0 ? r.resourceNames : [undefined];
    for (const verb of r.verbs ?? []) for (const group of r.apiGroups ?? []) for (const res of r.resources ?? []) for (const n of names) {
      const [resource, subresource] = res.split('/') as [string, string?];
      if (!authz.allowed({ user, verb, group, resource, ...(subresource ? { subresource } : {}), ...scope, ...(n !== undefined ? { name: n } : {}) })) {
        missing.push(`{APIGroups:["${group}"], Resources:["${res}"], ${n !== undefined ? `ResourceNames:["${n}"], ` : ''}Verbs:["${verb}"]}`);
      }
    }
  }
  if (missing.length) {
    throw forbidden({ group: def.group, resource: def.plural, name }, `user "${user.name}" (groups=${JSON.stringify(user.groups)}) is attempting to grant RBAC permissions not currently held:\n${missing.join('\n')}`);
  }
}
