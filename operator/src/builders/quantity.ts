/** Kubernetes quantities <-> bytes, for the few conversions the builders need (memory -> -m MiB, etc.). */

const SUFFIX: Record<string, number> = {
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
};

/** Bytes in a quantity such as `1Gi`, `512Mi`, `1.5G`. Throws on anything the CRD pattern would reject. */
export function quantityBytes(q: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(q);
  if (!m) throw new Error(`invalid quantity "${q}": expected a number with an optional Ki|Mi|Gi|Ti|k|M|G|T suffix`);
  return Math.round(Number(m[1]) * SUFFIX[m[2] ?? '']!);
}

export function mebibytes(bytes: number): number {
  return Math.ceil(bytes / 1024 ** 2);
}
