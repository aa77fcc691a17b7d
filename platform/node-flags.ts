/**
 * V8 flags every long-running vafa process starts with (the `bin/vafa.js` shebang, the npm scripts, the
 * container's entry point and the scorers the bench spawns; test/unit/node-flags.test.ts keeps them in step).
 *
 * `--max-semi-space-size=64`: the scorer makes many short-lived objects per event (rows, feature
 * vectors, decoded messages); with Node's default young generation (16 MiB semi-spaces) a third of the
 * core's time went to scavenges. 64 MiB semi-spaces cost up to ~190 MiB more heap a process and took the
 * core from 61 to 44 µs an event on a quiet 2-core machine (`vafa bench --only core`, with and without it).
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64'];
