/**
 * The sidecar's one error class: a stable code for tests and logs, and a message that names what to fix.
 * Wire errors are separate: they are memcached's own reply lines (SERVER_ERROR ..., CLIENT_ERROR ...).
 */
export type SidecarErrorCode = 'ERR_CONFIG';

export class SidecarError extends Error {
  constructor(readonly code: SidecarErrorCode, message: string) {
    super(message);
    this.name = 'SidecarError';
  }
}
