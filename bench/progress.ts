/**
 * Progress for humans: the phase running and a progress line, redrawn in place. Only when the stream
 * it writes to is a terminal; otherwise every call is a no-op (pipes and CI logs stay clean).
 */
export interface Progress {
  /** A new phase: prints its name on its own line. */
  phase(name: string): void;
  /** done of total, redrawn in place (throttled). */
  update(done: number, total: number, extra?: string): void;
  /** A free-form status in place of the progress line. */
  note(text: string): void;
  /** Ends the in-place line. */
  done(): void;
}

export const silentProgress: Progress = { phase: () => undefined, update: () => undefined, note: () => undefined, done: () => undefined };

export function terminalProgress(out: NodeJS.WriteStream, prefix: () => string): Progress {
  let current = '';
  let started = 0;
  let lastDraw = 0;
  let open = false;
  const draw = (text: string, force = false): void => {
    const now = Date.now();
    if (!force && now - lastDraw < 100) return;
    lastDraw = now;
    const width = Math.max(20, (out.columns || 100) - 1);
    out.write(`\r\x1b[2K${text.slice(0, width)}`);
    open = true;
  };
  const end = (): void => {
    if (open) out.write('\n');
    open = false;
  };
  return {
    phase(name) {
      end();
      current = name;
      started = Date.now();
      out.write(`\x1b[1m${prefix()}\x1b[0m ${name}\n`);
    },
    update(done, total, extra) {
      const frac = total > 0 ? Math.min(1, done / total) : 0;
      const cells = 24;
      const full = Math.floor(frac * cells);
      const bar = '█'.repeat(full) + (full < cells ? '░'.repeat(cells - full) : '');
      const secs = (Date.now() - started) / 1000;
      const rate = secs > 0 ? Math.round(done / secs) : 0;
      draw(`  ${bar} ${(frac * 100).toFixed(0).padStart(3)}%  ${done.toLocaleString('en-US')}/${total.toLocaleString('en-US')}  ${rate.toLocaleString('en-US')}/s  ${secs.toFixed(1)}s${extra ? `  ${extra}` : ''}`, done >= total);
    },
    note(text) {
      draw(`  ${text}  (${current}, ${((Date.now() - started) / 1000).toFixed(1)}s)`);
    },
    done: end,
  };
}
