/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * Pod Security Standards checks, as the PodSecurity admission controller applies them at level "restricted"
 * (which includes every "baseline" control): https://kubernetes.io/docs/concepts/security/pod-security-standards/
 * The controls and allowed values follow that page (policy version "latest"); each violation names the field.
 * Tests run it on every pod template the operator builds and the chart renders.
 */

const BASELINE_CAPABILITIES = new Set(['AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT']);
const SAFE_SYSCTLS = new Set([
  'kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.ip_unprivileged_port_start', 'net.ipv4.tcp_syncookies', 'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports', 'net.ipv4.tcp_keepalive_time', 'net.ipv4.tcp_fin_timeout', 'net.ipv4.tcp_keepalive_intvl', 'net.ipv4.tcp_keepalive_probes',
]);
const SELINUX_TYPES = new Set(['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']);
const RESTRICTED_VOLUME_TYPES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret']);
const APPARMOR_PREFIX = 'container.apparmor.security.beta.kubernetes.io/';

/** The pod template of a workload (Deployment, StatefulSet, DaemonSet, Job, ReplicaSet), a CronJob, or a Pod; undefined otherwise. */
export function podTemplateOf(obj: any): { metadata?: any; spec: any } | undefined {
  if (obj?.kind === 'Pod') return { metadata: obj.metadata, spec: obj.spec };
  if (obj?.kind === 'CronJob') return obj.spec?.jobTemplate?.spec?.template;
  return obj?.spec?.template?.spec ? obj.spec.template : undefined;
}

/** Every Pod Security "restricted" violation of a pod (metadata + spec), as `field: reason`; [] when it passes. */
export function restrictedViolations(pod: { metadata?: any; spec: any }): string[] {
  const out: string[] = [];
  const spec = pod.spec ?? {};
  const psc = spec.securityContext ?? {};
  const containers: [string, any][] = [
    ...(spec.initContainers ?? []).map((c: any) => [`initContainers[${c.name}]`, c] as [string, any]),
    ...(spec.containers ?? []).map((c: any) => [`containers[${c.name}]`, c] as [string, any]),
    ...(spec.ephemeralContainers ?? []).map((c: any) => [`ephemeralContainers[${c.name}]`, c] as [string, any]),
  ];

  // --- baseline ---
  for (const f of ['hostNetwork', 'hostPID', 'hostIPC'] as const) if (spec[f] === true) out.push(`spec.${f}: host namespaces are forbidden`);
  if (psc.windowsOptions?.hostProcess === true) out.push('spec.securityContext.windowsOptions.hostProcess: forbidden');
  for (const v of spec.volumes ?? []) if (v.hostPath) out.push(`spec.volumes[${v.name}].hostPath: forbidden`);
  for (const [k, v] of Object.entries<string>(pod.metadata?.annotations ?? {})) {
    if (k.startsWith(APPARMOR_PREFIX) && v !== 'runtime/default' && !v.startsWith('localhost/')) out.push(`metadata.annotations[${k}]: AppArmor profile ${v} is not allowed`);
  }
  const appArmor = (sc: any, where: string) => {
    const t = sc?.appArmorProfile?.type;
    if (t !== undefined && t !== 'RuntimeDefault' && t !== 'Localhost') out.push(`${where}.appArmorProfile.type: ${t} is not allowed`);
  };
  const seLinux = (sc: any, where: string) => {
    const o = sc?.seLinuxOptions;
    if (!o) return;
    if (o.type !== undefined && !SELINUX_TYPES.has(o.type)) out.push(`${where}.seLinuxOptions.type: ${o.type} is not allowed`);
    if (o.user) out.push(`${where}.seLinuxOptions.user: must be unset`);
    if (o.role) out.push(`${where}.seLinuxOptions.role: must be unset`);
  };
  appArmor(psc, 'spec.securityContext');
  seLinux(psc, 'spec.securityContext');
  for (const s of psc.sysctls ?? []) if (!SAFE_SYSCTLS.has(s.name)) out.push(`spec.securityContext.sysctls[${s.name}]: not a safe sysctl`);

  // --- restricted ---
  for (const v of spec.volumes ?? []) {
    const type = Object.keys(v).find((k) => k !== 'name');
    if (type && !RESTRICTED_VOLUME_TYPES.has(type)) out.push(`spec.volumes[${v.name}].${type}: volume type not allowed`);
  }
  if (psc.runAsUser === 0) out.push('spec.securityContext.runAsUser: must not be 0');
  if (psc.seccompProfile?.type !== undefined && psc.seccompProfile.type !== 'RuntimeDefault' && psc.seccompProfile.type !== 'Localhost') {
    out.push(`spec.securityContext.seccompProfile.type: ${psc.seccompProfile.type} is not allowed`);
  }
  for (const [where, c] of containers) {
    const sc = c.securityContext ?? {};
    const at = `spec.${where}.securityContext`;
    if (sc.privileged === true) out.push(`${at}.privileged: forbidden`);
    if (sc.windowsOptions?.hostProcess === true) out.push(`${at}.windowsOptions.hostProcess: forbidden`);
    for (const p of c.ports ?? []) if (p.hostPort) out.push(`spec.${where}.ports[${p.name ?? p.containerPort}].hostPort: forbidden`);
    if (sc.procMount !== undefined && sc.procMount !== 'Default') out.push(`${at}.procMount: must be Default`);
    appArmor(sc, at);
    seLinux(sc, at);
    for (const cap of sc.capabilities?.add ?? []) {
      if (!BASELINE_CAPABILITIES.has(cap)) out.push(`${at}.capabilities.add: ${cap} is not allowed`);
      else if (cap !== 'NET_BIND_SERVICE') out.push(`${at}.capabilities.add: only NET_BIND_SERVICE may be added, not ${cap}`);
    }
    if (!(sc.capabilities?.drop ?? []).includes('ALL')) out.push(`${at}.capabilities.drop: must include ALL`);
    if (sc.allowPrivilegeEscalation !== false) out.push(`${at}.allowPrivilegeEscalation: must be false`);
    const nonRoot = sc.runAsNonRoot ?? psc.runAsNonRoot;
    if (nonRoot !== true) out.push(`${at}.runAsNonRoot: must be true (here or in spec.securityContext)`);
    if (sc.runAsUser === 0) out.push(`${at}.runAsUser: must not be 0`);
    const seccomp = sc.seccompProfile?.type ?? psc.seccompProfile?.type;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') out.push(`${at}.seccompProfile.type: must be RuntimeDefault or Localhost (here or in spec.securityContext)`);
  }
  return out;
}
