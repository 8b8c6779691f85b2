/**
 * The trie-based TopicMatcher against the reference implementation (topic-oracle.ts), over random
 * pattern sets, additions and removals, routing keys and CC lists. The reference is checked here
 * against hand-worked cases; test/protocol/matcher-vs-rabbitmq.test.ts checks the matcher against
 * the real broker.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { TopicMatcher } from '@events-proxy/protocol';
import { SEED, check } from './property-runs.js';
import { topicMatches } from './topic-oracle.js';

const bounds = { numRuns: 1500, timeLimitMs: 8000 };

/** Small alphabets, so patterns and keys collide often; empty words included. */
const keyWord = fc.constantFrom('a', 'b', 'c', '', 'é');
const patternWord = fc.oneof(keyWord, fc.constantFrom('*', '#'));
const key = fc.array(keyWord, { maxLength: 6 }).map((w) => w.join('.'));
const pattern = fc.array(patternWord, { maxLength: 6 }).map((w) => w.join('.'));
const exchange = fc.constantFrom('exchange/a', 'exchange/b');

type Op = { readonly add: boolean; readonly exchange: string; readonly pattern: string };
const op: fc.Arbitrary<Op> = fc.record({ add: fc.boolean(), exchange, pattern });

describe('hostile input: topic matcher against the reference implementation', () => {
  it('the reference implementation gets the documented cases right', () => {
    const cases: [string, string, boolean][] = [
      ['#', '', true],
      ['#', 'a.b', true],
      ['*', '', false],
      ['*', 'a', true],
      ['*', 'a.b', false],
      ['a.*', 'a', false],
      ['a.#', 'a', true],
      ['a.#.b', 'a.b', true],
      ['a.#.b', 'a.x.y.b', true],
      ['#.a.#', 'b.b', false],
      ['', '', true],
      ['', 'a', false],
      ['a..b', 'a..b', true],
      ['a.*.b', 'a..b', true],
      ['*.*', 'a.', true],
    ];
    for (const [p, k, want] of cases) expect(topicMatches(p, k), `${p} ~ ${k}`).to.equal(want);
  });

  it(`matches exactly what the reference does, after any additions and removals (seed ${SEED})`, () => {
    check(
      fc.property(
        fc.array(op, { maxLength: 40 }),
        exchange,
        key,
        fc.array(key, { maxLength: 3 }),
        (ops, ex, routingKey, cc) => {
          const matcher = new TopicMatcher();
          const model = new Map<string, Set<string>>();
          for (const o of ops) {
            const set = model.get(o.exchange) ?? new Set<string>();
            model.set(o.exchange, set);
            const had = set.has(o.pattern);
            if (o.add) {
              expect(matcher.add(o.exchange, o.pattern)).to.equal(!had);
              set.add(o.pattern);
            } else {
              expect(matcher.remove(o.exchange, o.pattern)).to.equal(had);
              set.delete(o.pattern);
            }
          }
          const held = [...model].flatMap(([e, set]) => [...set].map((p) => `${e} ${p}`)).sort();
          expect([...matcher.entries()].map(([e, p]) => `${e} ${p}`).sort()).to.deep.equal(held);
          expect(matcher.size).to.equal(held.length);

          const expected = [...(model.get(ex) ?? [])]
            .filter((p) => [routingKey, ...cc].some((k) => topicMatches(p, k)))
            .sort();
          expect(
            matcher.match(ex, routingKey, cc).sort(),
            `${routingKey} cc ${JSON.stringify(cc)}`,
          ).to.deep.equal(expected);
        },
      ),
      bounds,
    );
  });

  it('agrees on long keys against many-`#` patterns (an exponential search would not finish)', () => {
    check(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.array(keyWord, { minLength: 50, maxLength: 120 }),
        (hashes, keyWords) => {
          const p = Array.from({ length: hashes }, () => '#').join('.a.');
          const k = keyWords.join('.');
          const matcher = new TopicMatcher();
          matcher.add('exchange/a', p);
          expect(matcher.match('exchange/a', k).length === 1).to.equal(topicMatches(p, k));
        },
      ),
      { numRuns: 200, timeLimitMs: 5000 },
    );
  });
});
