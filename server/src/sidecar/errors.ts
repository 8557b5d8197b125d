/**
 * The sidecar's one error class: a stable code for tests and logs, and a message that names what to fix.
 * Wire errors are separate: they are memcached's own reply lines (SERVER_ERROR ..., CLIENT_ERROR ...).
 */
/** ERR_CONFIG: a flag's value (exit code 2); ERR_FILE: a file a flag names cannot be used (exit code 64, as cachalot-server). */
export type SidecarErrorCode = 'ERR_CONFIG' | 'ERR_FILE';

export class SidecarError extends Error {
  constructor(readonly code: SidecarErrorCode, message: string) {
    super(message);
    this.name = 'SidecarError';
  }
}
