/**
 * A reference implementation of RabbitMQ topic matching for differential tests: a direct reading
 * of the rules, with no trie and no pruning. Words are split on `.` (an empty key has no words);
 * `*` matches exactly one word, `#` zero or more; any other word matches itself only.
 */
const words = (s: string): string[] => (s === '' ? [] : s.split('.'));

export function topicMatches(pattern: string, key: string): boolean {
  const p = words(pattern);
  const k = words(key);
  // Memoised on (pattern position, key position): `#.#.#` would otherwise be exponential.
  const memo = new Map<number, boolean>();
  const from = (i: number, j: number): boolean => {
    const slot = i * (k.length + 1) + j;
    const known = memo.get(slot);
    if (known !== undefined) return known;
    let result: boolean;
    if (i === p.length) result = j === k.length;
    else if (p[i] === '#') result = from(i + 1, j) || (j < k.length && from(i, j + 1));
    else result = j < k.length && (p[i] === '*' || p[i] === k[j]) && from(i + 1, j + 1);
    memo.set(slot, result);
    return result;
  };
  return from(0, 0);
}
