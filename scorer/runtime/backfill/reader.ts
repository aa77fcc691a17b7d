/**
 * The feeder's read-ahead: the input records in stream order, numbered, with each unreadable line where it
 * was read, so bad lines are reported in that order whichever records are validated where. The feeder
 * reads the next batch's records while the workers run the current one (threads.ts).
 */
import type { BadLine, SourceRecord } from './sources.js';

/** An input record and its number in stream order (1-based), or a line that could not be read. */
export type ReadItem = { rec: SourceRecord; n: number } | { bad: BadLine };

export class ReadAhead {
  private readonly it: AsyncIterator<SourceRecord> | Iterator<SourceRecord>;
  private readonly buffer: ReadItem[] = [];
  /** Records in the buffer (bad lines aside). */
  private buffered = 0;
  private read = 0;
  private ended = false;

  /**
   * `open` gets the callback for unreadable lines. The first `skip` records are read and dropped, with
   * the bad lines among them (a resumed run: the runs before consumed and reported them).
   */
  constructor(open: (bad: (b: BadLine) => void) => AsyncIterable<SourceRecord> | Iterable<SourceRecord>, private skip: number) {
    const source = open((bad) => {
      if (this.skip === 0) this.buffer.push({ bad });
    });
    this.it = Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]();
  }

  /** Reads until `records` records wait (or the input ends); resolves with the records newly read. */
  async fill(records: number): Promise<{ rec: SourceRecord; n: number }[]> {
    const fresh: { rec: SourceRecord; n: number }[] = [];
    while (!this.ended && this.buffered < records) {
      const next = await this.it.next();
      if (next.done) {
        this.ended = true;
        break;
      }
      this.read++;
      if (this.skip > 0) {
        this.skip--;
        continue;
      }
      const item = { rec: next.value, n: this.read };
      this.buffer.push(item);
      this.buffered++;
      fresh.push(item);
    }
    return fresh;
  }

  /** Up to `records` records from the buffer (after `fill`), with the bad lines before them; at the end, every bad line left. */
  take(records: number): ReadItem[] {
    let end = 0;
    let taken = 0;
    for (const item of this.buffer) {
      if (taken >= records) break;
      if ('rec' in item) taken++;
      end++;
    }
    if (this.ended && this.buffered === taken) end = this.buffer.length;
    this.buffered -= taken;
    return this.buffer.splice(0, end);
  }

  /** Nothing left to take. */
  get done(): boolean {
    return this.ended && this.buffer.length === 0;
  }

  /** Records read so far, skipped ones included. */
  get records(): number {
    return this.read;
  }
}
