import { expect } from 'chai';
import { TopicMatcher, topicMatches } from './topic-matcher.js';

function matches(pattern: string, key: string): boolean {
  const m = new TopicMatcher();
  m.add('x', pattern);
  return m.match('x', key).length === 1;
}

describe('protocol: topic matcher', () => {
  const cases: [pattern: string, key: string, expected: boolean][] = [
    ['a.b.c', 'a.b.c', true],
    ['a.b.c', 'a.b', false],
    ['a.*.c', 'a.b.c', true],
    ['a.*.c', 'a.c', false],
    ['*', '', false],
    ['*', 'a', true],
    ['*', 'a.b', false],
    ['#', '', true],
    ['#', 'a.b.c', true],
    ['#.#', '', true],
    ['#.#', 'a', true],
    ['a.#', 'a', true],
    ['a.#', 'a.b.c', true],
    ['a.#', 'b.a', false],
    ['#.c', 'c', true],
    ['#.c', 'a.b.c', true],
    ['a.#.c', 'a.c', true],
    ['a.#.c', 'a.x.y.c', true],
    ['a.#.c', 'a.x.y.d', false],
    ['a.#.*', 'a', false],
    ['a.#.*', 'a.b', true],
    ['', '', true],
    ['', 'a', false],
    ['a..b', 'a..b', true],
    ['a.*.b', 'a..b', true],
    ['a.', 'a.', true],
    ['a.', 'a', false],
    ['*.', 'a.', true],
    ['#.#.#.#.#.#.#.#.z', 'a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p', false],
  ];
  for (const [pattern, key, expected] of cases) {
    it(`${JSON.stringify(pattern)} ${expected ? 'matches' : 'does not match'} ${JSON.stringify(key)}`, () => {
      expect(matches(pattern, key)).to.equal(expected);
      expect(topicMatches(pattern, key), 'topicMatches (one pattern)').to.equal(expected);
    });
  }

  it('matches CC keys as well as the routing key, reporting each pattern once', () => {
    const m = new TopicMatcher();
    m.add('x', 'route.#');
    m.add('x', 'a.*');
    m.add('y', '#');
    expect(m.match('x', 'a.b', ['route.r', 'route.s']).sort()).to.deep.equal(['a.*', 'route.#']);
    expect(m.match('x', 'q', ['z'])).to.deep.equal([]);
    expect(m.match('nope', 'a.b')).to.deep.equal([]);
  });

  it('adds and removes patterns, pruning what is no longer used', () => {
    const m = new TopicMatcher();
    expect(m.add('x', 'a.b')).to.equal(true);
    expect(m.add('x', 'a.b')).to.equal(false);
    m.add('x', 'a');
    m.add('x', 'a.b.c');
    expect(m.size).to.equal(3);
    expect(m.remove('x', 'a.b')).to.equal(true);
    expect(m.remove('x', 'a.b')).to.equal(false);
    expect(m.match('x', 'a.b')).to.deep.equal([]);
    expect(m.match('x', 'a')).to.deep.equal(['a']);
    expect(m.match('x', 'a.b.c')).to.deep.equal(['a.b.c']);
    m.remove('x', 'a');
    m.remove('x', 'a.b.c');
    expect(m.size).to.equal(0);
    expect([...m.entries()]).to.deep.equal([]);
  });

  it('lists its entries', () => {
    const m = new TopicMatcher();
    m.add('x', '#');
    m.add('x', 'a.*');
    m.add('y', '');
    expect([...m.entries()].sort()).to.deep.equal([
      ['x', '#'],
      ['x', 'a.*'],
      ['y', ''],
    ]);
  });
});
