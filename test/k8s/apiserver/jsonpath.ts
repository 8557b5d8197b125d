/** The JSONPath subset CRD printer columns use: `.a.b`, `.a[0]`, `.a[?(@.k=="v")].b`. */
import { isObject, type Json } from './patch.js';

export function evalJsonPath(obj: Json, path: string): Json | undefined {
  const tokens = path.match(/\.[A-Za-z0-9_-]+|\[\?\(@\.[A-Za-z0-9_-]+==(?:"[^"]*"|'[^']*')\)\]|\[[0-9]+\]/g) ?? [];
  let cur: Json[] = [obj];
  for (const t of tokens) {
    const next: Json[] = [];
    for (const c of cur) {
      if (t.startsWith('.')) {
        if (isObject(c) && c[t.slice(1)] !== undefined) next.push(c[t.slice(1)]!);
      } else if (t.startsWith('[?')) {
        const m = /^\[\?\(@\.([A-Za-z0-9_-]+)==["'](.*)["']\)\]$/.exec(t)!;
        if (Array.isArray(c)) for (const e of c) if (isObject(e) && String(e[m[1]!]) === m[2]) next.push(e);
      } else if (Array.isArray(c)) {
        const e = c[Number(t.slice(1, -1))];
        if (e !== undefined) next.push(e);
      }
    }
    cur = next;
  }
  return cur[0];
}
