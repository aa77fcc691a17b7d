/**
 * Checkpoint store: per-partition state snapshots with the stream sequence they cover. The default keeps
 * them in the data directory (written atomically: temp file, fsync, rename).
 */
import { mkdirSync, readFileSync, existsSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import path from 'node:path';
import type { PartitionState } from '../core/state.js';
import { Objm, setSha256Backend, type ObjectStore } from '@nats-io/obj';

// Node's own SHA-256 for object-store chunks: the pure-JS default costs several % of a scorer's CPU.
setSha256Backend('native');
import type { NatsConnection } from '@nats-io/transport-node';

export interface CheckpointStore {
  load(partition: number): Promise<PartitionState | undefined>;
  save(state: PartitionState): Promise<void>;
}

export class FileCheckpointStore implements CheckpointStore {
  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  private file(partition: number): string {
    return path.join(this.dir, `partition-${partition}.json`);
  }

  async load(partition: number): Promise<PartitionState | undefined> {
    const f = this.file(partition);
    if (!existsSync(f)) return undefined;
    const state = JSON.parse(readFileSync(f, 'utf8')) as PartitionState;
    if (state.version !== 1 || state.partition !== partition) throw new Error(`checkpoint ${f} is not a version-1 snapshot of partition ${partition}`);
    return state;
  }

  async save(state: PartitionState): Promise<void> {
    const f = this.file(state.partition);
    const tmp = `${f}.tmp`;
    // The snapshot is taken synchronously (between batches); writing and syncing it does not block the loop.
    const text = JSON.stringify(state);
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, f);
  }
}

/**
 * Checkpoints in the NATS object store (bucket `vafa_checkpoints`): readable by any scorer instance,
 * so a partition that moves to another machine resumes from its last snapshot.
 */
export class NatsCheckpointStore implements CheckpointStore {
  private constructor(private readonly os: ObjectStore) {}

  static async open(nc: NatsConnection, replicas = 1): Promise<NatsCheckpointStore> {
    const os = await new Objm(nc).create('vafa_checkpoints', { replicas, description: 'scorer partition snapshots' });
    return new NatsCheckpointStore(os);
  }

  async load(partition: number): Promise<PartitionState | undefined> {
    const blob = await this.os.getBlob(`partition-${partition}`);
    if (!blob) return undefined;
    const state = JSON.parse(Buffer.from(blob).toString('utf8')) as PartitionState;
    if (state.version !== 1 || state.partition !== partition) throw new Error(`checkpoint of partition ${partition} in the object store is not a version-1 snapshot`);
    return state;
  }

  async save(state: PartitionState): Promise<void> {
    await this.os.putBlob({ name: `partition-${state.partition}` }, Buffer.from(JSON.stringify(state)));
  }
}
