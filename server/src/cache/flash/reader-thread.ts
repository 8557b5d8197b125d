/** Entry point of a flash reader thread (startReader in reader.ts); loaded only as a Worker's module. */
import { workerData } from 'node:worker_threads';
import { FlashReader, type ReaderInit } from './reader.js';

const init = workerData as ReaderInit;
new FlashReader(init.memory, init.index, init.readers).run();
