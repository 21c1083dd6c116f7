// Stable string hashing (32-bit FNV-1a) for data splits: an item's split
// depends only on its own text, never on file order or the machine.

/** 32-bit FNV-1a of the UTF-16 code units of `text`, as an unsigned integer. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** A bucket in [0, 1000) for `key` (salted, so different uses get independent splits). */
export function bucketOf(key: string, salt = 'split'): number {
  return fnv1a(`${salt}:${key}`) % 1000;
}

/** The first `n` items of `items` in an order fixed by their hash (a reproducible sample). */
export function hashSample<T>(items: readonly T[], keyOf: (item: T) => string, n: number, salt = 'sample'): T[] {
  return items
    .map((item) => ({ item, h: fnv1a(`${salt}:${keyOf(item)}`), key: keyOf(item) }))
    .sort((a, b) => a.h - b.h || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .slice(0, n)
    .map((e) => e.item);
}
