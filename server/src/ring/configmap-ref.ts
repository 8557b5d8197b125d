/** The ring ConfigMap as both programs' --ring-configmap flag names it: NAMESPACE/NAME, DNS-1123 names. */
export interface ConfigMapRef {
  readonly namespace: string;
  readonly name: string;
}

const REF = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-.a-z0-9]*[a-z0-9])?)$/;

/** The reference, or undefined when `text` is not NAMESPACE/NAME. */
export function parseConfigMapRef(text: string): ConfigMapRef | undefined {
  const m = REF.exec(text);
  return m === null ? undefined : { namespace: m[1]!, name: m[3]! };
}
