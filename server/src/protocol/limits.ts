/**
 * Protocol bounds, with memcached 1.6's values (proto_text.c, memcached.h). Every input the text protocol
 * accepts is bounded by one of these (STYLE.md rule 3).
 */
export const KEY_MAX_LENGTH = 250;
/** tokenize_command() never yields more than MAX_TOKENS - 1 tokens plus the terminal one. */
export const MAX_TOKENS = 24;
/** A request line without '\n' after this many bytes closes the connection, unless it is a get/gets. */
export const LINE_LIMIT = 2048;
/** Meta commands with more tokens than this answer "options flags too long". */
export const MFLAG_MAX_OPT_LENGTH = 20;
export const MFLAG_MAX_OPAQUE_LENGTH = 32;
/** realtime(): exptimes above 30 days are absolute unix times. */
export const REALTIME_MAXDELTA = 60 * 60 * 24 * 30;
/** Longest decimal u64 plus NUL, as memcached sizes its incr buffer. */
export const INCR_MAX_STORAGE_LEN = 24;
