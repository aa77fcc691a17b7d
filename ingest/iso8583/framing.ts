/**
 * TCP framing for ISO 8583: each message is preceded by a length header (2-byte big-endian binary
 * or 4 ASCII digits) that may or may not count itself and the message header after it. The reader
 * copes with frames split across reads and many frames in one read.
 */
import type { Iso8583Options } from './spec.js';

export interface FramingOptions {
  lengthHeader: Exclude<Iso8583Options['lengthHeader'], 'none'>;
  lengthHeaderIncludesItself?: boolean;
  /**
   * Bytes of each frame that follow the length header but that its length does not count (a message
   * header the switch leaves out of the length). Default 0.
   */
  uncountedBytes?: number;
  /** Largest message accepted (without the header). */
  maxFrameBytes: number;
}

/** The framing of a spec's options: length header, whether it counts itself, and the bytes it leaves out. */
export function framingOf(o: Pick<Iso8583Options, 'lengthHeader' | 'lengthHeaderIncludesItself' | 'lengthCountsMessageHeader' | 'messageHeader'>): Omit<FramingOptions, 'maxFrameBytes'> {
  if (o.lengthHeader === 'none') throw new RangeError('framing needs a length header (binary2 or ascii4)');
  const uncounted = o.lengthCountsMessageHeader === false ? (o.messageHeader?.length ?? 0) : 0;
  return { lengthHeader: o.lengthHeader, lengthHeaderIncludesItself: o.lengthHeaderIncludesItself, ...(uncounted ? { uncountedBytes: uncounted } : {}) };
}

/** A length header that cannot be honoured; after one, the stream cannot be resynchronised. */
export class FramingError extends Error {
  override readonly name = 'FramingError';
  /** The offending header bytes as hex (never message content). */
  constructor(readonly reason: string, readonly headerHex: string) {
    super(`bad length header ${headerHex}: ${reason}`);
  }
}

export function headerBytes(lengthHeader: FramingOptions['lengthHeader']): number {
  return lengthHeader === 'binary2' ? 2 : 4;
}

/** Incremental frame reader for one connection. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  private readonly hdr: number;

  constructor(private readonly opts: FramingOptions) {
    this.hdr = headerBytes(opts.lengthHeader);
  }

  /** Bytes held for a frame not yet complete. */
  get buffered(): number {
    return this.buf.length;
  }

  /**
   * Adds bytes and returns every frame now complete (zero-length frames, used as keep-alives by some
   * switches, are skipped). A bad header (a non-digit ASCII length, a length over `maxFrameBytes`)
   * comes back as `error` after the frames before it; the reader must not be fed again after that.
   */
  push(chunk: Buffer): { frames: Buffer[]; error?: FramingError } {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const frames: Buffer[] = [];
    let pos = 0;
    let error: FramingError | undefined;
    while (this.buf.length - pos >= this.hdr) {
      const header = this.buf.subarray(pos, pos + this.hdr);
      let len: number;
      if (this.opts.lengthHeader === 'binary2') len = header.readUInt16BE(0);
      else {
        const text = header.toString('latin1');
        if (!/^\d{4}$/.test(text)) {
          error = new FramingError('the ASCII length is not four digits', header.toString('hex'));
          break;
        }
        len = Number(text);
      }
      if (this.opts.lengthHeaderIncludesItself) {
        if (len !== 0 && len < this.hdr) {
          error = new FramingError(`length ${len} is shorter than the header itself`, header.toString('hex'));
          break;
        }
        len = Math.max(0, len - this.hdr);
      }
      if (len > 0) len += this.opts.uncountedBytes ?? 0;
      if (len > this.opts.maxFrameBytes) {
        error = new FramingError(`length ${len} is over the limit of ${this.opts.maxFrameBytes} bytes`, header.toString('hex'));
        break;
      }
      if (this.buf.length - pos - this.hdr < len) break;
      if (len > 0) frames.push(this.buf.subarray(pos + this.hdr, pos + this.hdr + len));
      pos += this.hdr + len;
    }
    this.buf = error ? Buffer.alloc(0) : pos === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(pos);
    return error ? { frames, error } : { frames };
  }
}

/** Prefixes a message with its length header. */
export function frameMessage(payload: Buffer, opts: Pick<FramingOptions, 'lengthHeader' | 'lengthHeaderIncludesItself' | 'uncountedBytes'>): Buffer {
  const hdr = headerBytes(opts.lengthHeader);
  const uncounted = opts.uncountedBytes ?? 0;
  if (payload.length < uncounted) throw new RangeError(`a ${payload.length}-byte message is shorter than its ${uncounted} uncounted header bytes`);
  const len = payload.length - uncounted + (opts.lengthHeaderIncludesItself ? hdr : 0);
  const max = opts.lengthHeader === 'binary2' ? 0xffff : 9999;
  if (len > max) throw new RangeError(`a ${payload.length}-byte message does not fit a ${opts.lengthHeader} length header`);
  const frame = Buffer.allocUnsafe(hdr + payload.length);
  if (opts.lengthHeader === 'binary2') frame.writeUInt16BE(len);
  else if (hdr > 0) frame.write(String(len).padStart(4, '0'), 'latin1');
  payload.copy(frame, hdr);
  return frame;
}
