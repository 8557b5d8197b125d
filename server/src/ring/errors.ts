/**
 * The ring layer's error class, shared by both programs that read the ring (the sidecar routes by it, the
 * server purges by it): a stable code for tests and logs, and a message naming the field or source to fix.
 */
export type RingErrorCode =
  | 'ERR_RING_INVALID'
  | 'ERR_RING_SOURCE';

export class RingError extends Error {
  constructor(readonly code: RingErrorCode, message: string) {
    super(message);
    this.name = 'RingError';
  }
}
