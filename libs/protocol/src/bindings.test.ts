import { expect } from 'chai';
import {
  MSG_BINDING_FIELDS,
  MSG_BINDINGS_NOT_ARRAY,
  MSG_ONLY_BINDINGS_KEY,
  bindingKey,
  parseBindingKey,
  parseBindingsQuery,
  type BindingLimits,
} from './bindings.js';

const limits: BindingLimits = { maxBindings: 3, allowedExchangePrefixes: ['exchange/'] };
const parse = (v: unknown, l = limits) =>
  parseBindingsQuery(typeof v === 'string' ? v : JSON.stringify(v), l);
const errorOf = (v: unknown, l = limits) => {
  const r = parse(v, l);
  if (r.ok) throw new Error('expected a validation error');
  return r.message;
};

describe('protocol: bindings', () => {
  it('accepts a list of bindings and ignores extra keys inside a binding', () => {
    const r = parse({ bindings: [{ exchange: 'exchange/a', routingKeyPattern: 'a.#', extra: 1 }] });
    expect(r).to.deep.equal({ ok: true, bindings: [{ exchange: 'exchange/a', routingKeyPattern: 'a.#' }] });
  });

  it('refuses names with an unpaired surrogate, which have no UTF-8 form, and accepts paired ones', () => {
    expect(errorOf('{"bindings":[{"exchange":"exchange/a\\ud800","routingKeyPattern":"#"}]}')).to.equal(
      'Binding 0: `exchange` is not valid Unicode (it has an unpaired surrogate)',
    );
    expect(errorOf('{"bindings":[{"exchange":"exchange/a","routingKeyPattern":"\\udc00.x"}]}')).to.equal(
      'Binding 0: `routingKeyPattern` is not valid Unicode (it has an unpaired surrogate)',
    );
    expect(
      parse('{"bindings":[{"exchange":"exchange/\\ud83d\\ude00","routingKeyPattern":"#"}]}').ok,
    ).to.equal(true);
  });

  it('collapses duplicate bindings', () => {
    const b = { exchange: 'exchange/a', routingKeyPattern: '#' };
    const r = parse({ bindings: [b, b, { ...b, routingKeyPattern: '*' }] });
    expect(r.ok && r.bindings).to.have.length(2);
  });

  it("keeps the original's three messages word for word", () => {
    expect(errorOf({ bindings: [], foo: 1 })).to.equal(
      'The json query should have only one key i.e. `bindings`.',
    );
    expect(errorOf({ notBindings: [] })).to.equal(MSG_ONLY_BINDINGS_KEY);
    expect(errorOf({ bindings: { exchange: 'exchange/a' } })).to.equal(
      'Bindings must be an array of {exchange, routingKeyPattern}',
    );
    expect(errorOf({ bindings: 'x' })).to.equal(MSG_BINDINGS_NOT_ARRAY);
    expect(errorOf({ bindings: [{ exchange: 'exchange/a' }] })).to.equal(
      'Binding must include `exchange` and `routingKeyPattern` fields',
    );
    expect(errorOf({ bindings: [{ routingKeyPattern: '#' }] })).to.equal(MSG_BINDING_FIELDS);
    expect(errorOf({ bindings: [null] })).to.equal(MSG_BINDING_FIELDS);
  });

  it('says plainly what is wrong with other bad input', () => {
    expect(parseBindingsQuery(undefined, limits)).to.deep.include({ ok: false });
    expect(errorOf('')).to.match(/Missing `bindings`/);
    expect(errorOf('{"bindings":')).to.match(/not valid JSON/);
    expect(errorOf('[1]')).to.equal(MSG_ONLY_BINDINGS_KEY);
    expect(errorOf({ bindings: [] })).to.match(/must not be empty/);
    expect(errorOf({ bindings: [{ exchange: 5, routingKeyPattern: '#' }] })).to.equal(
      'Binding 0: `exchange` must be a string',
    );
    expect(errorOf({ bindings: [{ exchange: 'exchange/a', routingKeyPattern: ['#'] }] })).to.equal(
      'Binding 0: `routingKeyPattern` must be a string',
    );
  });

  it('limits the number of bindings per connection', () => {
    const b = (i: number) => ({ exchange: 'exchange/a', routingKeyPattern: `k${i}` });
    expect(parse({ bindings: [b(1), b(2), b(3)] }).ok).to.equal(true);
    expect(errorOf({ bindings: [b(1), b(2), b(3), b(4)] })).to.equal(
      'Too many bindings: 4 given, at most 3 are allowed per connection',
    );
  });

  it('limits exchange names and patterns to 255 bytes (AMQP short strings)', () => {
    const long = 'exchange/' + 'é'.repeat(124); // 9 + 248 = 257 bytes, 133 characters
    expect(errorOf({ bindings: [{ exchange: long, routingKeyPattern: '#' }] })).to.match(
      /longer than 255 bytes/,
    );
    expect(errorOf({ bindings: [{ exchange: 'exchange/a', routingKeyPattern: 'a'.repeat(256) }] })).to.match(
      /routingKeyPattern is longer than 255 bytes/,
    );
    expect(parse({ bindings: [{ exchange: 'exchange/a', routingKeyPattern: 'a'.repeat(255) }] }).ok).to.equal(
      true,
    );
  });

  it('allows only exchanges under the configured prefixes, or all when none are configured', () => {
    const outside = { bindings: [{ exchange: 'amq.topic', routingKeyPattern: '#' }] };
    expect(errorOf(outside)).to.equal(
      'Exchange `amq.topic` is not allowed: exchange names must start with `exchange/`',
    );
    expect(parse(outside, { ...limits, allowedExchangePrefixes: [] }).ok).to.equal(true);
  });

  it('round-trips binding keys unambiguously', () => {
    const a = { exchange: 'exchange/a:b', routingKeyPattern: 'c' };
    const b = { exchange: 'exchange/a', routingKeyPattern: 'b:c' };
    expect(bindingKey(a)).not.to.equal(bindingKey(b));
    for (const x of [a, b, { exchange: 'ex/é', routingKeyPattern: '' }]) {
      expect(parseBindingKey(bindingKey(x))).to.deep.equal(x);
    }
    expect(() => parseBindingKey('nonsense')).to.throw(/Not a binding key/);
  });
});
