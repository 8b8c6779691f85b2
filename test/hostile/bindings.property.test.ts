/** Property-based tests of the bindings parser (libs/protocol/src/bindings.ts). */
import { expect } from 'chai';
import fc from 'fast-check';
import {
  MAX_SHORT_STRING_BYTES,
  bindingKey,
  parseBindingKey,
  parseBindingsQuery,
  type Binding,
  type BindingLimits,
} from '@events-proxy/protocol';
import { SEED, check } from './property-runs.js';

const limits: BindingLimits = { maxBindings: 8, allowedExchangePrefixes: ['exchange/', 'other/'] };
const bounds = { numRuns: 2000, timeLimitMs: 5000 };

/** Any text, including lone surrogates, control characters and astral characters. */
const anyText = fc.string({ unit: 'binary', maxLength: 80 });
/** Text that is mostly plausible names: the prefixes, dots, wildcards, multi-byte characters. */
const nameish = fc.oneof(
  anyText,
  fc
    .tuple(
      fc.constantFrom('exchange/', 'other/', 'Exchange/', 'amq.', ''),
      fc.array(fc.constantFrom('a', 'b', '.', '*', '#', 'é', '€', '😀', '\u0000', '\r\n', '\ud800'), {
        maxLength: 140,
      }),
    )
    .map(([prefix, parts]) => prefix + parts.join('')),
);
/** A field value: usually a string, sometimes anything JSON has. */
const fieldValue = fc.oneof(
  { weight: 4, arbitrary: nameish },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
);
const bindingish = fc.oneof(
  { weight: 6, arbitrary: fc.record({ exchange: fieldValue, routingKeyPattern: fieldValue }) },
  { weight: 1, arbitrary: fc.record({ exchange: fieldValue }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
);
/** Bindings that satisfy every rule. */
const validWord = fc.constantFrom('a', 'b', 'task', '*', '#', 'é', '😀', '');
const validBinding: fc.Arbitrary<Binding> = fc.record({
  exchange: fc
    .tuple(fc.constantFrom('exchange/', 'other/'), fc.string({ minLength: 0, maxLength: 40 }))
    .map(([p, rest]) => p + rest),
  routingKeyPattern: fc.array(validWord, { minLength: 1, maxLength: 12 }).map((w) => w.join('.') || '#'),
});

/** Inputs from garbage through nearly valid to valid (lists of up to 10, past the limit of 8). */
const input = fc.oneof(
  fc.array(validBinding, { minLength: 1, maxLength: 10 }).map((list) => JSON.stringify({ bindings: list })),
  anyText,
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc.array(bindingish, { maxLength: 12 }).map((list) => JSON.stringify({ bindings: list })),
  fc
    .tuple(fc.array(bindingish, { maxLength: 3 }), fc.string({ maxLength: 8 }))
    .map(([list, key]) => JSON.stringify({ bindings: list, [key]: 1 })),
);

describe('hostile input: bindings parser properties', () => {
  it(`never throws, and whatever it accepts keeps every limit (seed ${SEED})`, () => {
    let accepted = 0;
    check(
      fc.property(input, (raw) => {
        const r = parseBindingsQuery(raw, limits);
        if (r.ok) accepted++;
        if (!r.ok) {
          expect(r.message).to.be.a('string').and.not.equal('');
          return;
        }
        expect(r.bindings.length).to.be.within(1, limits.maxBindings);
        const keys = new Set<string>();
        for (const b of r.bindings) {
          expect(Object.keys(b).sort()).to.deep.equal(['exchange', 'routingKeyPattern']);
          for (const field of [b.exchange, b.routingKeyPattern]) {
            expect(field).to.be.a('string').and.not.equal('');
            expect(Buffer.byteLength(field)).to.be.at.most(MAX_SHORT_STRING_BYTES);
            expect(/\p{Cs}/u.test(field), 'well-formed Unicode').to.equal(false);
          }
          expect(limits.allowedExchangePrefixes.some((p) => b.exchange.startsWith(p))).to.equal(true);
          keys.add(bindingKey(b));
        }
        expect(keys.size, 'no duplicates').to.equal(r.bindings.length);
      }),
      bounds,
    );
    expect(
      accepted,
      'some generated inputs are accepted, so the limits are really checked',
    ).to.be.greaterThan(0);
  });

  it('accepts every valid list, keeping first occurrences in order, and round-trips what it returns', () => {
    check(
      fc.property(fc.array(validBinding, { minLength: 1, maxLength: limits.maxBindings }), (list) => {
        const r = parseBindingsQuery(JSON.stringify({ bindings: list }), limits);
        const firsts = list.filter((b, i) => list.findIndex((o) => bindingKey(o) === bindingKey(b)) === i);
        expect(r.ok ? r.bindings : r.message).to.deep.equal(firsts);
        if (r.ok) {
          const again = parseBindingsQuery(JSON.stringify({ bindings: r.bindings }), limits);
          expect(again).to.deep.equal(r);
        }
      }),
      bounds,
    );
  });

  it('maps every binding to a key and back', () => {
    check(
      fc.property(
        fc.record({
          exchange: fc.string({ maxLength: 60 }),
          routingKeyPattern: fc.string({ maxLength: 60 }),
        }),
        (b) => {
          expect(parseBindingKey(bindingKey(b))).to.deep.equal(b);
        },
      ),
      bounds,
    );
  });
});
