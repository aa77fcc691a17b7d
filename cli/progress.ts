/**
 * One redrawn status line for long CLI work (replay, train, bench, simulate) when stdout is a
 * terminal; a single final line otherwise, so logs and CI output stay readable.
 */
export interface ProgressLine {
  update(text: string, fraction?: number): void;
  done(text: string): void;
}

export function progressLine(label: string, stream: NodeJS.WriteStream = process.stdout): ProgressLine {
  const tty = stream.isTTY === true;
  let last = 0;
  const bar = (f: number): string => {
    const width = 24;
    const filled = Math.max(0, Math.min(width, Math.round(f * width)));
    return `[${'█'.repeat(filled)}${'·'.repeat(width - filled)}] ${(f * 100).toFixed(0).padStart(3)}%`;
  };
  return {
    update(text, fraction) {
      if (!tty) return;
      const now = Date.now();
      if (now - last < 200) return;
      last = now;
      stream.write(`\r\x1b[2K${label}: ${fraction !== undefined ? `${bar(fraction)} ` : ''}${text}`);
    },
    done(text) {
      if (tty) stream.write('\r\x1b[2K');
      stream.write(`${label}: ${text}\n`);
    },
  };
}
