import { OutBuf } from '../../../server/src/protocol/outbuf.js';

describe('OutBuf', () => {
  test('filled() is the bytes written so far, across reuse of a view and growth of the buffer', () => {
    const out = new OutBuf(16);
    out.ascii('STORED\r\n');
    const first = out.filled();
    expect(first.toString('latin1')).toBe('STORED\r\n');
    out.pos = 0;
    out.ascii('DELETED\r\n');
    expect(out.filled().toString('latin1')).toBe('DELETED\r\n');
    out.pos = 0;
    out.ascii('STORED\r\n');
    // Same length as before, same buffer: the view made for the first write serves again.
    expect(out.filled()).toBe(first);
    expect(out.filled().toString('latin1')).toBe('STORED\r\n');
    // 8 + 16 = 24 bytes: past the initial 16, so the buffer grows; a view of the old one must not come back.
    out.ascii('0123456789abcdef');
    const grown = out.filled();
    expect(grown.toString('latin1')).toBe('STORED\r\n0123456789abcdef');
    expect(grown.buffer).toBe(out.buf.buffer);
  });

  test('filled() after take() or a swapped-in buffer views the new buffer', () => {
    const out = new OutBuf(64);
    out.ascii('END\r\n');
    const before = out.filled();
    const sent = out.take(undefined);
    expect(sent.toString('latin1')).toBe('END\r\n');
    out.ascii('END\r\n');
    const after = out.filled();
    expect(after).not.toBe(before);
    expect(after.buffer).toBe(out.buf.buffer);
    // The connection puts a reused buffer back in place (cache/connection.ts onWritten).
    const other = Buffer.alloc(128);
    out.buf = other;
    out.pos = 0;
    out.ascii('END\r\n');
    expect(out.filled().buffer).toBe(other.buffer);
    expect(out.filled().toString('latin1')).toBe('END\r\n');
  });

  test('dataView() covers exactly the current buffer, also after it grows or is replaced', () => {
    const out = new OutBuf(16);
    let dv = out.dataView();
    expect(dv.byteLength).toBe(16);
    expect(out.dataView()).toBe(dv);
    out.ensure(100);
    dv = out.dataView();
    expect(dv.byteLength).toBe(out.buf.length);
    dv.setUint8(3, 65);
    expect(out.buf[3]).toBe(65);
    const backing = Buffer.alloc(256);
    out.buf = backing.subarray(32, 96);
    dv = out.dataView();
    expect(dv.byteLength).toBe(64);
    dv.setUint8(0, 66);
    expect(backing[32]).toBe(66);
  });
});
