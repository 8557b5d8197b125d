import { Slot, MERGE_GET, MERGE_FANOUT, REPLY_GET, REPLY_LINE, FAIL_TIMEOUT } from '../../../server/src/sidecar/request.js';

function multiGet(keys: string[], owners: number[], parts: number): { slot: Slot; done: Buffer[] } {
  const done: Buffer[] = [];
  const slot = new Slot({ slotDone: (s) => done.push(s.out!) });
  slot.merge = MERGE_GET;
  const text = keys.join(' ');
  slot.keyBytes = Buffer.from(text);
  slot.keyOffsets = new Int32Array(keys.length * 2);
  slot.keyPart = Int32Array.from(owners);
  let pos = 0;
  keys.forEach((k, i) => {
    slot.keyOffsets![2 * i] = pos;
    slot.keyOffsets![2 * i + 1] = pos + k.length;
    pos += k.length + 1;
  });
  for (let i = 0; i < parts; i++) slot.addPart(REPLY_GET);
  return { slot, done };
}

test('hits are merged in request order, duplicates included, misses and failed parts left out', () => {
  const { slot, done } = multiGet(['a', 'b', 'c', 'a', 'd', 'e'], [0, 1, 0, 0, 2, -1], 3);
  slot.parts![1]!.complete(Buffer.from('VALUE b 1 2\r\nbb\r\nEND\r\n'));
  slot.parts![0]!.complete(Buffer.from('VALUE a 0 1\r\nA\r\nVALUE a 0 1 9\r\nA\r\nEND\r\n'));
  expect(done).toEqual([]);
  slot.parts![2]!.fail(FAIL_TIMEOUT);
  expect(done.map(String)).toEqual(['VALUE a 0 1\r\nA\r\nVALUE b 1 2\r\nbb\r\nVALUE a 0 1 9\r\nA\r\nEND\r\n']);
});

test('a value containing "END\\r\\n" and spaces is copied by its length', () => {
  const { slot, done } = multiGet(['x', 'y'], [0, 1], 2);
  slot.parts![0]!.complete(Buffer.from('VALUE x 0 7\r\nEND\r\n  \r\nEND\r\n'));
  slot.parts![1]!.complete(Buffer.from('END\r\n'));
  expect(done.map(String)).toEqual(['VALUE x 0 7\r\nEND\r\n  \r\nEND\r\n']);
});

test('an error line from one server is the whole reply', () => {
  const { slot, done } = multiGet(['x', 'y'], [0, 1], 2);
  slot.parts![0]!.complete(Buffer.from('VALUE x 0 1\r\n1\r\nEND\r\n'));
  slot.parts![1]!.complete(Buffer.from('SERVER_ERROR out of memory\r\n'));
  expect(done.map(String)).toEqual(['SERVER_ERROR out of memory\r\n']);
});

test('flush_all fan-out: OK only when every server said OK', () => {
  const run = (replies: Array<string | null>): string => {
    const done: Buffer[] = [];
    const slot = new Slot({ slotDone: (s) => done.push(s.out!) });
    slot.merge = MERGE_FANOUT;
    const parts = replies.map(() => slot.addPart(REPLY_LINE));
    replies.forEach((r, i) => (r === null ? parts[i]!.fail(FAIL_TIMEOUT) : parts[i]!.complete(Buffer.from(r))));
    return String(done[0]);
  };
  expect(run(['OK\r\n', 'OK\r\n', 'OK\r\n'])).toBe('OK\r\n');
  expect(run(['OK\r\n', null, 'OK\r\n'])).toBe(FAIL_TIMEOUT);
  expect(run(['OK\r\n', 'CLIENT_ERROR flush_all not allowed\r\n'])).toBe('CLIENT_ERROR flush_all not allowed\r\n');
});
