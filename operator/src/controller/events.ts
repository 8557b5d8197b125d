/**
 * Kubernetes Events for what the operator did and what failed, attached to the CacheCluster. Identical events
 * for one object within the aggregation window bump `count` instead of creating a new Event, as client-go's
 * recorder does, so a crash-looping reconcile does not flood etcd.
 */
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../log.js';
import type { OperatorMetrics } from '../metrics.js';

export interface InvolvedObject {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
  uid?: string;
}

const AGGREGATION_WINDOW_MS = 10 * 60_000;
const MAX_REMEMBERED = 1000;

export class EventRecorder {
  private readonly core: CoreV1Api;
  private readonly recent = new Map<string, { name: string; count: number; at: number }>();

  constructor(kc: KubeConfig, private readonly component: string, private readonly host: string, private readonly log: Logger, private readonly metrics?: OperatorMetrics) {
    this.core = kc.makeApiClient(CoreV1Api);
  }

  /** Never throws: an Event that cannot be written is logged and dropped. */
  async record(obj: InvolvedObject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    this.metrics?.events.inc({ type, reason });
    const key = `${obj.uid ?? obj.namespace + '/' + obj.name}|${type}|${reason}|${message}`;
    const now = new Date();
    const seen = this.recent.get(key);
    try {
      if (seen && now.getTime() - seen.at < AGGREGATION_WINDOW_MS) {
        seen.count++;
        seen.at = now.getTime();
        await this.core.patchNamespacedEvent({ name: seen.name, namespace: obj.namespace, body: [
            // client-node sends typed patches as JSON patch (application/json-patch+json) by default.
            { op: 'replace', path: '/count', value: seen.count },
            { op: 'replace', path: '/lastTimestamp', value: now.toISOString() },
          ],
        });
        return;
      }
      const name = `${obj.name}.${randomBytes(8).toString('hex')}`;
      await this.core.createNamespacedEvent({
        namespace: obj.namespace,
        body: {
          metadata: { name, namespace: obj.namespace },
          involvedObject: { apiVersion: obj.apiVersion, kind: obj.kind, name: obj.name, namespace: obj.namespace, ...(obj.uid ? { uid: obj.uid } : {}) },
          reason,
          message,
          type,
          count: 1,
          firstTimestamp: now,
          lastTimestamp: now,
          source: { component: this.component, host: this.host },
          reportingComponent: this.component,
          reportingInstance: this.host,
        },
      });
      if (this.recent.size >= MAX_REMEMBERED) this.recent.delete(this.recent.keys().next().value!);
      this.recent.set(key, { name, count: 1, at: now.getTime() });
    } catch (err) {
      this.recent.delete(key);
      this.log.warn({ reason, object: `${obj.namespace}/${obj.name}`, err: String(err) }, 'could not record event');
    }
  }
}
