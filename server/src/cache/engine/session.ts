import { OutBuf } from '../../protocol/outbuf.js';
import { KEY_MAX_LENGTH } from '../../protocol/limits.js';
import { CMD_ADD, CMD_APPEND, CMD_CAS, CMD_PREPEND, CMD_REPLACE, CMD_SET } from '../../protocol/commands.js';

/** What the connection must do next with its input (memcached's conn states that matter to parsing). */
export const WANT_COMMAND = 0;
export const WANT_NREAD = 1; // read `nreadBytes` of value (data + "\r\n"), then completeNread()
export const WANT_SWALLOW = 2; // discard `swallowBytes`, then go back to commands
export const WANT_CLOSE = 3; // close now, without flushing further replies (memcached conn_closing)
/** A multi-get yielded part-way (its replies reached GET_YIELD_BYTES): resume it on the same line. */
export const WANT_GET_RESUME = 4;

/** The store modes of memcached's NREAD_* commands: the storage commands' ids in the command table. */
export const NREAD_SET = CMD_SET;
export const NREAD_ADD = CMD_ADD;
export const NREAD_REPLACE = CMD_REPLACE;
export const NREAD_APPEND = CMD_APPEND;
export const NREAD_PREPEND = CMD_PREPEND;
export const NREAD_CAS = CMD_CAS;

/**
 * Per-connection protocol state. One object per connection, reused for every request: the fields that
 * carry a storage command from its line to its data block are plain fields, not a per-request object.
 */
export class Session {
  readonly out = new OutBuf();
  want = WANT_COMMAND;
  /** Reply suppression for the current command (classic "noreply", meta "q"). */
  noreply = false;
  /** quit: close once the replies already produced are written. */
  closeAfterWrite = false;
  lastCommandTime = 0;
  /** -Y: set by the auth `set` (engine/auth.ts); until then every line goes to the auth gate. */
  authenticated = false;

  // A storage command waiting for its data block.
  nreadCmd = 0;
  nreadBytes = 0; // value length + 2
  readonly key = Buffer.alloc(KEY_MAX_LENGTH + 8);
  keyLen = 0;
  flags = 0;
  exptime = 0;
  cas: number | bigint = 0;
  /** ms: reply as a meta command, with the return flags stashed in `metaStash` in request order. */
  meta = false;
  metaStash = '';
  keyBinary = false;
  setStale = false;

  swallowBytes = 0;

  /**
   * A large data block read straight into its item (storage.ts beginDirectValue): the item allocated at
   * the line, not yet linked, its segment pinned so that nothing moves it; `directView` is its value
   * bytes, `directGot` how many of value + "\r\n" have arrived, `directBadEnd` whether the two bytes after
   * the value were not "\r\n". directSegment < 0: no such item.
   */
  directRef = 0;
  directSegment = -1;
  directView: Uint8Array | null = null;
  directGot = 0;
  directBadEnd = false;

  /** Where a yielded multi-get continues: offset of the next key from the line start, and its mode. */
  getResumeOffset = 0;
  getReturnCas = false;
  getTouch = false;
  getExptime = 0;

  /** Flash reads whose replies hold reserved space in `out`; the connection doesn't send until they land. */
  readonly pendingReads: PendingRead[] = [];
  /** Bumped when queued replies are dropped (get with a too-long key), so late reads land nowhere. */
  outEpoch = 0;
  /** Set by the connection: called when the last pending read has landed. */
  onReadsDone: (() => void) | undefined = undefined;

  resetStorage(): void {
    this.meta = false;
    this.metaStash = '';
    this.keyBinary = false;
    this.setStale = false;
    this.cas = 0;
  }
}

/** A reply whose value is being read from flash into reserved bytes of the session's OutBuf. */
export interface PendingRead {
  epoch: number;
  /** Where the reply starts (removed whole if the read fails) and where the value goes. */
  replyStart: number;
  valueStart: number;
  valueLength: number;
  /** Bytes after the value that belong to this reply ("\r\n"). */
  trailer: number;
}
