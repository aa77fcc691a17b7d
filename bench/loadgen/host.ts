/**
 * Runs one load in a worker thread (TypeScript through tsx's loader, registered inside the worker)
 * and returns what it measured. The worker is terminated on return, on error and by the cleanup.
 */
import { Worker } from 'node:worker_threads';
import type { Cleanup } from '../cleanup.js';
import type { Progress } from '../progress.js';
import type { FromWorker, LoadResult, LoadSpec, ToWorker } from './protocol.js';

const TSX_API = import.meta.resolve('tsx/esm/api');
const WORKER = new URL('./worker.ts', import.meta.url).href;

/** Worker bootstrap (evaluated as a script): register tsx's ESM loader in this thread, then load the worker. */
const BOOT = `import(${JSON.stringify(TSX_API)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(WORKER)}); })
  .catch((err) => { require('node:worker_threads').parentPort.postMessage({ type: 'error', message: String(err && err.stack || err) }); });`;

export interface Load {
  /** Resolves once the worker has prepared every request. */
  ready: Promise<number>;
  /** Starts sending; resolves with the result. */
  start(): Promise<LoadResult>;
  stop(): Promise<void>;
}

/** Spawns the worker and lets it prepare its requests (untimed); `start()` begins the timed run. */
export function prepareLoad(spec: LoadSpec, cleanup: Cleanup, progress: Progress): Load {
  const worker = new Worker(BOOT, { eval: true, workerData: spec });
  const stop = cleanup.add('load generator worker', async () => { await worker.terminate(); });
  let onReady!: (n: number) => void;
  let onResult!: (r: LoadResult) => void;
  let onError!: (e: Error) => void;
  const ready = new Promise<number>((resolve, reject) => {
    onReady = resolve;
    onError = reject;
  });
  const result = new Promise<LoadResult>((resolve, reject) => {
    onResult = resolve;
    const prev = onError;
    onError = (e) => {
      prev(e);
      reject(e);
    };
  });
  // Both promises may reject before anyone awaits them: keep that from being an unhandled rejection.
  ready.catch(() => undefined);
  result.catch(() => undefined);
  worker.on('message', (m: FromWorker) => {
    if (m.type === 'ready') onReady(m.requests);
    else if (m.type === 'progress') progress.update(m.done, m.total);
    else if (m.type === 'result') onResult(m.result);
    else onError(new Error(`load generator failed: ${m.message}`));
  });
  worker.on('error', (err) => onError(err));
  worker.on('exit', (code) => onError(new Error(`load generator exited with code ${code}`)));
  return {
    ready,
    async start() {
      await ready;
      worker.postMessage({ type: 'go' } satisfies ToWorker);
      try {
        return await result;
      } finally {
        await stop();
      }
    },
    stop,
  };
}

/** Prepares and runs a load in one go. */
export async function runLoad(spec: LoadSpec, cleanup: Cleanup, progress: Progress): Promise<LoadResult> {
  return await prepareLoad(spec, cleanup, progress).start();
}
