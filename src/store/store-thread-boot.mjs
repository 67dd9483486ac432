// Entry of the SQLite store thread (thread-store.ts). The project runs TypeScript through tsx without a build step;
// a worker thread started from a test runner does not inherit a loader, so this plain module registers tsx's ESM
// hooks for the thread and then loads the TypeScript entry named in workerData.
import { register } from 'tsx/esm/api';
import { workerData } from 'node:worker_threads';

register();
await import(workerData.entry);
