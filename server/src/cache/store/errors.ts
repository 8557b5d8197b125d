/** Errors the store raises; `code` is stable, the message names the option and its allowed range. */
export class StoreError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'StoreError';
    this.code = code;
  }
}

export class StoreOptionsError extends StoreError {
  constructor(message: string) {
    super('ERR_STORE_OPTIONS', message);
    this.name = 'StoreOptionsError';
  }
}
