// cachalot-server's command line for memcached's -F, -M, -D, -I and -o slab_chunk_max (and Cachalot's own -o ext_wbuf_wait_ms): the values they set,
// and memcached.c's refusals with its texts (checked against memcached 1.6.18's own output).
import { describe, expect, it } from '@jest/globals';
import { ConfigError, parseArgs, type ServerConfig } from '../../../server/src/cache/config.js';

function config(...argv: string[]): ServerConfig {
  const r = parseArgs(argv, {});
  if (r.kind !== 'run') throw new Error(`expected a config, got exit: ${r.text}`);
  return r.config;
}

function refusal(...argv: string[]): string {
  try {
    parseArgs(argv, {});
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  return 'accepted';
}

describe('-F, -M, -D', () => {
  it('are off, off and ":" by default', () => {
    const c = config();
    expect({ disableFlush: c.disableFlush, noEvict: c.noEvict, prefixDelimiter: c.prefixDelimiter })
      .toEqual({ disableFlush: false, noEvict: false, prefixDelimiter: ':' });
  });

  it('set by the short flags, clustered or not, and by the long names', () => {
    expect(config('-FM')).toMatchObject({ disableFlush: true, noEvict: true });
    expect(config('--disable-flush-all', '--disable-evictions')).toMatchObject({ disableFlush: true, noEvict: true });
    expect(config('-D', '/x').prefixDelimiter).toBe('/'); // memcached keeps the first character
    expect(config('-D#').prefixDelimiter).toBe('#');
  });

  it('-D without a value is refused naming it', () => {
    expect(refusal('-D')).toBe('-D needs a value');
    expect(refusal('-D', '')).toBe('-D needs a delimiter character');
  });
});

describe('-I against -m and -o slab_chunk_max, as memcached.c checks them', () => {
  it('accepts 1024 when slab_chunk_max divides it and the slab page', () => {
    expect(config('-I', '1024', '-o', 'slab_chunk_max=512')).toMatchObject({ maxItemSize: 1024, slabChunkMax: 512 });
    expect(config('-I', '2k', '-o', 'slab_chunk_max=1').maxItemSize).toBe(2048);
    expect(config('-I', '1536k').maxItemSize).toBe(1536 * 1024); // a multiple of the default 512 KiB
    expect(config('-m', '8', '-I', '4m').maxItemSize).toBe(4 * 1024 * 1024); // exactly half of -m
  });

  it.each([
    [['-I', '1000'], '-I 1000: Item max size cannot be less than 1024 bytes.'],
    [['-I', '1024'], '-I: slab_chunk_max (bytes: 524288) cannot be larger than -I (item_size_max 1024)'],
    [['-I', '3000', '-o', 'slab_chunk_max=1024'],
      '-I: -I (item_size_max: 3000) must be evenly divisible by slab_chunk_max (bytes: 1024)'],
    [['-I', '1024', '-o', 'slab_chunk_max=3000'], '-I: slab_chunk_max (bytes: 3000) cannot be larger than -I (item_size_max 1024)'],
    [['-I', '3072', '-o', 'slab_chunk_max=3072'],
      '-o slab_chunk_max: slab_chunk_max (bytes: 3072) must divide evenly into 1048576 (slab_page_size)'],
    [['-I', '40m'], '-I 41943040: Cannot set item size limit higher than 1/2 of memory max (-m 64).'],
    [['-m', '4096', '-I', '2g'], '-I 2147483648: Cannot set item size limit higher than a gigabyte.'],
    [['-I', '5x'], "-I must be a size like 1048576, 512k, 1m or 2g (got '5x')"],
    [['-o', 'slab_chunk_max=abc'], "-o slab_chunk_max must be a number of bytes, 1 to 1048576 (got 'abc')"],
    [['-o', 'slab_chunk_max=0'], "-o slab_chunk_max must be an integer of bytes between 1 and 1048576 (got '0')"],
    [['-o', 'slab_chunk_max='], "-o slab_chunk_max must be a number of bytes, 1 to 1048576 (got '')"],
  ])('%j is refused: %s', (argv, message) => {
    expect(refusal(...argv)).toBe(message);
  });
});

describe('-o ssl_refresh_on_change', () => {
  it('is off by default, as memcached reloads its TLS files on refresh_certs only', () => {
    expect(config().security.sslRefreshOnChange).toBe(false);
  });

  it('is refused without -Z and with a value, naming it', () => {
    expect(refusal('-o', 'ssl_refresh_on_change')).toBe('-o ssl_refresh_on_change needs -Z (TLS is off)');
    expect(refusal('-Z', '-o', 'ssl_refresh_on_change=1')).toBe("-o ssl_refresh_on_change takes no value (got '1')");
  });
});

describe('-o ext_wbuf_wait_ms', () => {
  it('is 1000 by default, takes 0 (never wait) and other milliseconds', () => {
    expect(config().extWbufWaitMs).toBe(1000);
    expect(config('-o', 'ext_wbuf_wait_ms=0').extWbufWaitMs).toBe(0);
    expect(config('-o', 'ext_path=/tmp/x:64m,ext_wbuf_wait_ms=250').extWbufWaitMs).toBe(250);
  });

  it('refuses what is not a number of milliseconds, naming the flag and the range', () => {
    expect(refusal('-o', 'ext_wbuf_wait_ms=soon')).toBe("-o ext_wbuf_wait_ms must be an integer of milliseconds between 0 and 3600000 (got 'soon')");
    expect(refusal('-o', 'ext_wbuf_wait_ms=-1')).toBe("-o ext_wbuf_wait_ms must be an integer of milliseconds between 0 and 3600000 (got '-1')");
  });
});
