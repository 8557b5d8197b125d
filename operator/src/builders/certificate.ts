import { withDefaults, type CacheCluster } from '../api/types.js';
import { headlessServiceName } from '../ring.js';
import { childMeta } from './labels.js';
import { certificateName } from './security.js';

export const CERTIFICATE_API_VERSION = 'cert-manager.io/v1';
export const CERTIFICATE_KIND = 'Certificate';

/** Every name a client reaches a server by: the client Service, the headless Service, and each member's pod
 * DNS name through one wildcard, so that scaling never reissues the certificate. */
export function serverDnsNames(cc: CacheCluster): string[] {
  const ns = cc.metadata.namespace ?? 'default';
  const names: string[] = [];
  for (const svc of [cc.metadata.name, headlessServiceName(cc.metadata.name)]) {
    names.push(svc, `${svc}.${ns}`, `${svc}.${ns}.svc`, `${svc}.${ns}.svc.cluster.local`);
  }
  const headless = headlessServiceName(cc.metadata.name);
  names.push(`*.${headless}.${ns}.svc`, `*.${headless}.${ns}.svc.cluster.local`);
  return names;
}

/** The servers' certificate, issued by cert-manager into the Secret the StatefulSet mounts. undefined unless
 * spec.tls.certManager is set; the controller applies it only where cert-manager's API is served. */
export function buildCertificate(cc: CacheCluster) {
  const { tls } = withDefaults(cc.spec);
  if (!tls?.certManager) return undefined;
  const secretName = certificateName(cc);
  return {
    apiVersion: CERTIFICATE_API_VERSION,
    kind: CERTIFICATE_KIND,
    metadata: childMeta(cc, secretName),
    spec: {
      secretName,
      issuerRef: tls.certManager.issuerRef,
      dnsNames: serverDnsNames(cc),
      // With clientAuth the router presents this certificate to the servers as its client certificate.
      usages: ['server auth', ...(tls.clientAuth ? ['client auth'] : []), 'digital signature', 'key encipherment'],
      // A renewal replaces the key as well; the servers pick up both files without a restart.
      privateKey: { rotationPolicy: 'Always' },
    },
  };
}
