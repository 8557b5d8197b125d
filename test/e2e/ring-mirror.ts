/**
 * TEST DOUBLE for the servers' ring wiring: cachalot-server follows the ring with `--ring-configmap NS/NAME
 * --ring-member POD` (docs/ring.md, "Servers"), but the operator does not pass those flags yet and the kubelet
 * double gives pods no API credentials (docs/known-limitations.md). Here each server gets `--ring-file` instead,
 * a copy of the ring ConfigMap's ring.json that this mirror rewrites (atomically, on change) every 100 ms, and
 * `--ring-member` with its pod name. The server's ownership and purge are then what they are on a cluster; only
 * the transport of the document differs, adding up to 100 ms + the file poll to what a watch would take.
 */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';

export class RingMirror {
  private readonly dir = mkdtempSync(join(tmpdir(), 'cachalot-e2e-ring-'));
  private timer: NodeJS.Timeout | null = null;
  private last = '';

  constructor(private readonly namespace: string, private readonly name: string) {}

  private get file(): string {
    return join(this.dir, `${this.namespace}_${this.name}.json`);
  }

  /** KubeletOptions.podArgs: the mirrored file and the pod's member name, for this cluster's pods only. */
  readonly podArgs = (pod: V1Pod): string[] => {
    const pod_ = pod.metadata?.name ?? '';
    if ((pod.metadata?.namespace ?? 'default') !== this.namespace || !pod_.startsWith(`${this.name}-`)) return [];
    return ['--ring-file', this.file, '--ring-member', pod_, '--ring-poll-ms', '100'];
  };

  start(apiUrl: string): void {
    const poll = async (): Promise<void> => {
      const r = await fetch(`${apiUrl}/api/v1/namespaces/${this.namespace}/configmaps/${this.name}-ring`);
      if (r.status !== 200) return;
      const text = ((await r.json()) as { data?: Record<string, string> }).data?.['ring.json'];
      if (text === undefined || text === this.last) return;
      const tmp = `${this.file}.tmp`;
      writeFileSync(tmp, text);
      renameSync(tmp, this.file);
      this.last = text;
    };
    this.timer = setInterval(() => void poll().catch(() => undefined), 100);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    rmSync(this.dir, { recursive: true, force: true });
  }
}
