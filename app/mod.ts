/**
 * app/: the composition root (docs/ARCHITECTURE.md, "Who imports whom"): it starts and stops the stack
 * from the domain folders and platform/. cli/ and bench/ import it through this file (lint:
 * `layers/imports`); nothing below imports it.
 */
export { loadDefaultChurn, portsToListenOn, startStack, StartupTimeoutError, untilOk, type Stack, type StackOptions, type StopDeadlines, type StopPhase } from './stack.js';
export { countRows, waitForDrain } from './drain.js';
export type { Command } from './command.js';
export { insecureEngines, isLoopbackHost } from './engine-credentials.js';
