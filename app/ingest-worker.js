// Entry point of an ingest cluster worker (app/ingest-cluster.ts forks it): tsx's loader, then the worker.
import { register } from 'tsx/esm/api';

register();
await import('./ingest-worker-main.ts');
