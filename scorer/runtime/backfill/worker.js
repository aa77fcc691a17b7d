// Entry point of a backfill worker thread (threads.ts starts it): tsx's loader, then the worker.
import { register } from 'tsx/esm/api';

register();
await import('./worker-main.ts');
