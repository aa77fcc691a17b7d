/**
 * The offer catalogue file at the edge: read and validate (errors name the line). The pure parsing lives
 * in scorer/core/offers/catalogue.ts; a bad file is refused with every problem and its line, and the
 * catalogue in force stays.
 */
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { parseOffers, OffersConfigError, type OffersCatalogue } from '../core/offers/catalogue.js';

/** Reads and validates a catalogue file; throws `OffersConfigError` (every problem with its line) or the I/O error. */
export async function loadOffersFile(path: string): Promise<OffersCatalogue> {
  return parseOffers(await readFile(path, 'utf8'), path);
}

/** Synchronous variant for process start-up. */
export function loadOffersFileSync(path: string): OffersCatalogue {
  return parseOffers(readFileSync(path, 'utf8'), path);
}

export type OffersReload =
  | { status: 'applied'; catalogue: OffersCatalogue }
  | { status: 'refused'; error: string; issues?: OffersConfigError['issues'] };

/** Reads `path` for a reload; never throws: a refused file leaves the running catalogue as it is. */
export async function reloadOffersFile(path: string): Promise<OffersReload> {
  try {
    return { status: 'applied', catalogue: await loadOffersFile(path) };
  } catch (err) {
    if (err instanceof OffersConfigError) return { status: 'refused', error: err.message, issues: err.issues };
    return { status: 'refused', error: `${path}: ${(err as Error).message}` };
  }
}
