/** Where rings come from: a file (a mounted ConfigMap) or a watch through the Kubernetes API. */
import type { RingSpec } from './document.js';

export interface RingListener {
  /** A valid document was read (the sidecar ignores one whose version and members it already has). */
  ring(spec: RingSpec, origin: string): void;
  /** A document could not be read or failed validation; the current ring stays. */
  invalid(err: Error, origin: string): void;
}

export interface RingSource {
  start(listener: RingListener): Promise<void>;
  stop(): void;
}
