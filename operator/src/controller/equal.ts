/**
 * Whether two JSON values are the same object. Key order does not count: the API server re-encodes what it
 * stores (a custom resource comes back with its keys sorted), so comparing JSON text would see a change in
 * every status the operator computes and write it again on every reconcile. Keys set to undefined count as
 * absent, as they are once serialized.
 */
export function semanticEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((v, i) => semanticEqual(v, b[i]));
  }
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  const kx = Object.keys(x).filter((k) => x[k] !== undefined);
  const ky = Object.keys(y).filter((k) => y[k] !== undefined);
  return kx.length === ky.length && kx.every((k) => Object.prototype.hasOwnProperty.call(y, k) && semanticEqual(x[k], y[k]));
}
