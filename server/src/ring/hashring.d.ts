/** The part of hashring@3 (untyped CommonJS) the continuum uses. */
declare module 'hashring' {
  namespace HashRing {
    interface HashRingOptions {
      'vnode count'?: number;
      'default port'?: number;
      'max cache size'?: number;
      compatibility?: 'hash_ring' | 'ketama';
      replicas?: number;
    }
  }
  class HashRing {
    constructor(
      servers: string | string[] | Record<string, { vnodes?: number; weight?: number }>,
      algorithm?: string | ((key: string) => Buffer),
      options?: HashRing.HashRingOptions,
    );
    get(key: string): string | undefined;
  }
  export = HashRing;
}
