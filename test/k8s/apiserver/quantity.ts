/** resource.Quantity as a number, for the comparisons the double makes (a claim may grow, never shrink). */
const SUFFIX: Record<string, number> = { '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };

/** NaN for text that is no quantity. */
export function parseQuantity(q: string): number {
  const m = /^([+-]?[0-9]+(?:\.[0-9]*)?|[+-]?\.[0-9]+)(?:(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)|[eE]([+-]?[0-9]+))?$/.exec(q.trim());
  if (!m) return NaN;
  return Number(m[1]) * (m[3] !== undefined ? 10 ** Number(m[3]) : SUFFIX[m[2] ?? '']!);
}
