import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Manifest } from '../../models/manifest.js';

/** Absolute path of a file under test/fixtures/onnx. */
export const fixture = (rel: string): string => fileURLToPath(new URL(`../fixtures/onnx/${rel}`, import.meta.url));

/** A fresh temporary folder and a function removing it. */
export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'vafa-models-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Writes a manifest (any JSON, valid or not) and returns its path. */
export async function writeManifest(dir: string, name: string, manifest: Partial<Manifest> | Record<string, unknown>): Promise<string> {
  const p = path.join(dir, `${name}.manifest.json`);
  await writeFile(p, JSON.stringify(manifest, null, 2));
  return p;
}

/** Largest absolute difference between two equally long arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
