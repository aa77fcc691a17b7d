/**
 * Bounded waits. Every network wait in vafa has a deadline: a promise that never settles (a lost reply,
 * an iterator that never ends) must cost a bounded time and an error that names what was awaited, not a
 * hung process.
 */

/** A wait that passed its deadline. `what` names the operation; `ms` is the deadline that passed. */
export class DeadlineError extends Error {
  override readonly name = 'DeadlineError';
  constructor(readonly what: string, readonly ms: number) {
    super(`${what}: no answer within ${ms} ms`);
  }
}

/**
 * Resolves or rejects as `work` does, or rejects with `DeadlineError` after `ms`. The work itself is not
 * cancelled (a promise cannot be); pass an `AbortController` to the operation when it accepts one.
 */
export async function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError(what, ms)), ms);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits `ms`; resolves early (without error) when `signal` aborts. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return;
  await new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
