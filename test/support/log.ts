/** A logger for tests that keeps every line it writes, parsed. */
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../platform/log.js';

export interface RecordingLogger {
  logger: Logger;
  /** The lines written so far, as JSON objects. */
  lines: { msg: string; [field: string]: unknown }[];
}

export function recordingLogger(level: 'debug' | 'info' | 'warn' = 'info'): RecordingLogger {
  const lines: RecordingLogger['lines'] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) lines.push(JSON.parse(line) as RecordingLogger['lines'][number]);
      done();
    },
  });
  return { logger: createLogger({ name: 'test', level, format: 'json', destination }), lines };
}
