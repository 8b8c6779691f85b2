/** In-process cost of the ingest's matching step: TopicMatcher.match over many patterns. */
import { TopicMatcher } from '@events-proxy/protocol';

export interface MatcherCost {
  readonly patterns: number;
  readonly lookups: number;
  /** Nanoseconds per match() call (one routing key, no CC). */
  readonly nsPerMatch: number;
}

/**
 * Loads `patterns` (`<prefix><i>`, as the binding-scale clients use, plus a few wildcards) into one
 * exchange's trie and times `lookups` matches of keys spread over them.
 */
export function measureMatcher(patterns: number, lookups: number, prefix = 'bench.k'): MatcherCost {
  const matcher = new TopicMatcher();
  const exchange = 'exchange/bench/matcher';
  for (let i = 0; i < patterns; i++) matcher.add(exchange, `${prefix}${i}`);
  for (const wildcard of ['bench.#', '*.k1', 'bench.*.x']) matcher.add(exchange, wildcard);
  const keys = Array.from({ length: 1024 }, (_, i) => `${prefix}${(i * 7919) % patterns}`);
  let found = 0;
  for (let i = 0; i < 10_000; i++) found += matcher.match(exchange, keys[i & 1023]!).length; // warm-up
  const started = process.hrtime.bigint();
  for (let i = 0; i < lookups; i++) found += matcher.match(exchange, keys[i & 1023]!).length;
  const ns = Number(process.hrtime.bigint() - started);
  if (found === 0) throw new Error('the matcher matched nothing');
  return { patterns, lookups, nsPerMatch: Math.round(ns / lookups) };
}
