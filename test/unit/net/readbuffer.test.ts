import { consumeBuffered, takeInput, type InputConsumer } from '../../../server/src/net/readbuffer.js';

/** Consumes whole "\n"-terminated lines, as a connection consumes requests; records them. */
class Lines implements InputConsumer {
  rbuf: Buffer = Buffer.alloc(0);
  rstart = 0;
  rend = 0;
  readonly seen: string[] = [];
  paused = false;
  consume(buf: Buffer, pos: number, end: number): number {
    for (let guard = 0; guard < 1000 && pos < end && !this.paused; guard++) {
      const nl = buf.indexOf(10, pos);
      if (nl < 0 || nl >= end) break;
      this.seen.push(buf.toString('latin1', pos, nl));
      pos = nl + 1;
    }
    return pos;
  }
  expecting(): number {
    return 0;
  }
}

test('a read is used in place; the unused tail is copied, since the chunk is reused', () => {
  const c = new Lines();
  const chunk = Buffer.from('one\ntw', 'latin1');
  takeInput(c, chunk, chunk.length);
  chunk.fill(0x78); // the shared read buffer is overwritten by the next read
  expect(c.seen).toEqual(['one']);
  expect(c.rbuf.toString('latin1', c.rstart, c.rend)).toBe('tw');
  const more = Buffer.from('o\nthree\n', 'latin1');
  takeInput(c, more, more.length);
  expect(c.seen).toEqual(['one', 'two', 'three']);
  expect([c.rstart, c.rend]).toEqual([0, 0]);
});

test('requests left while paused wait in the read buffer until consumed again', () => {
  const c = new Lines();
  c.paused = true;
  const chunk = Buffer.from('a\nb\n', 'latin1');
  takeInput(c, chunk, 3);
  expect(c.seen).toEqual([]);
  c.paused = false;
  consumeBuffered(c);
  expect(c.seen).toEqual(['a']);
  expect(c.rend - c.rstart).toBe(1);
});
