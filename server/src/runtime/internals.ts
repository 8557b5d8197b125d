/**
 * Node's internal `stream_wrap` binding (reachable through the deprecated process.binding()), loaded once
 * per thread: the WriteWrap request type and the shared state words that net/directwrite.ts (writes on the
 * socket handle) and net/sharedread.ts (the handle's read callback) use as Node's own stream_base_commons
 * does. null when it is missing or not as expected: both then fall back to Node's public paths.
 */
export interface StreamWrapBinding {
  /** A socket write request; its fields are set by the caller (directwrite.ts WriteReq). */
  WriteWrap: new () => object;
  streamBaseState: Int32Array;
  kLastWriteWasAsync: number;
  kReadBytesOrError: number;
}

let binding: StreamWrapBinding | null | undefined;

export function streamWrap(): StreamWrapBinding | null {
  if (binding !== undefined) return binding;
  binding = null;
  try {
    const b = (process as unknown as { binding(name: string): Partial<StreamWrapBinding> }).binding('stream_wrap');
    // (isView, not instanceof: under jest the test's realm has its own Int32Array.)
    if (typeof b.WriteWrap === 'function' && ArrayBuffer.isView(b.streamBaseState) &&
      typeof b.kLastWriteWasAsync === 'number' && typeof b.kReadBytesOrError === 'number') {
      binding = b as StreamWrapBinding;
    }
  } catch {
    // Not available in this Node.
  }
  return binding;
}
