/**
 * The wait before try number `failures` (1 for the first retry): the server's `retry:` is the
 * floor, then full jitter between the floor and a ceiling that doubles with every failed try, up to
 * `maxMs`; never less than `atLeastMs` (a server's `Retry-After`).
 */
export function backoffDelay(
  failures: number,
  floorMs: number,
  maxMs: number,
  atLeastMs = 0,
  random: () => number = Math.random,
): number {
  const floor = Math.min(floorMs, maxMs);
  const ceiling = Math.min(maxMs, floor * 2 ** failures);
  return Math.max(atLeastMs, floor + random() * (ceiling - floor));
}
