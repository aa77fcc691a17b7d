#!/usr/bin/env -S node --max-semi-space-size=64
// Entry point for `vafa` / `npx vafa`: runs the TypeScript CLI through tsx's loader.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
