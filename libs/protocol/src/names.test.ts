import { expect } from 'chai';
import { names } from './names.js';

/** What Redis Cluster hashes: the text of the first `{…}` with something in it, else the whole key. */
function hashedPart(key: string): string {
  const open = key.indexOf('{');
  if (open === -1) return key;
  const close = key.indexOf('}', open + 1);
  if (close === -1 || close === open + 1) return key;
  return key.slice(open + 1, close);
}

const binding = { exchange: 'exchange/x', routingKeyPattern: 'a.#' };

describe('protocol: Redis names', () => {
  it('keeps the untagged names on a standalone Redis, as existing installations have them', () => {
    const n = names('events-proxy:');
    expect(n.leases).to.equal('events-proxy:leases');
    expect(n.lock('k')).to.equal('events-proxy:lock:k');
    expect(n.bullPrefix).to.equal('events-proxy:bull');
    expect(n.bindingChanges).to.equal('events-proxy:control:bindings');
  });

  for (const prefix of ['events-proxy:', '', 'tenant{7}:', 'odd{prefix:', 'x}y{:']) {
    it(`puts every control-plane key in one slot, after the key prefix (${JSON.stringify(prefix)})`, () => {
      const n = names(prefix, { hashTagged: true });
      const keys = [n.leases, n.lock('exchange/x\u0000a.#'), `${n.bullPrefix}:${n.bindQueue}:wait`];
      for (const key of keys) expect(key.startsWith(prefix), key).to.equal(true);
      expect(new Set(keys.map(hashedPart)).size, keys.join(' ')).to.equal(1);
    });
  }

  it('never tags the bus channels, so they spread over the shards', () => {
    const n = names('events-proxy:', { hashTagged: true });
    expect(n.channel(binding)).to.equal(names('events-proxy:').channel(binding));
    expect(n.channel(binding)).to.not.include('{');
  });

  for (const channel of ['events-proxy:msg:exchange/x\u0000a.#', '', '}', '{', '{}', 'a}b{c}', '}{x']) {
    it(`puts both keys of a channel's history in one slot (${JSON.stringify(channel)})`, () => {
      for (const prefix of ['events-proxy:', '', 'tenant{7}:', 'odd{prefix:', 'x}y{:']) {
        const { entries, since } = names(prefix).historyKeys(channel);
        expect(entries.startsWith(prefix) && since.startsWith(prefix)).to.equal(true);
        expect(entries).to.not.equal(since);
        expect(hashedPart(entries), `${entries} / ${since}`).to.equal(hashedPart(since));
        expect(hashedPart(entries)).to.not.equal(entries);
      }
    });
  }

  it("spreads channels' histories over slots: the channel is in the tag", () => {
    const n = names('events-proxy:');
    const tags = ['a', 'b', 'c'].map((c) => hashedPart(n.historyKeys(`events-proxy:msg:${c}`).entries));
    expect(new Set(tags).size).to.equal(3);
    expect(hashedPart(n.historyKeys('x').entries)).to.include('x');
  });

  it("puts a client's stream count and connect rate in one slot, and clients in different ones", () => {
    for (const prefix of ['events-proxy:', '', 'tenant:']) {
      const n = names(prefix);
      for (const key of ['ip:203.0.113.7', 'ip:2001:db8::1', 'sub:abc', '', '}', '{x}']) {
        const [streams, rate] = [n.clientStreams(key), n.connectRate(key)];
        expect(streams.startsWith(prefix) && rate.startsWith(prefix)).to.equal(true);
        expect(streams).to.not.equal(rate);
        expect(hashedPart(streams), `${streams} / ${rate}`).to.equal(hashedPart(rate));
        expect(hashedPart(streams)).to.not.equal(streams);
      }
      expect(n.clientStreams('ip:a')).to.not.equal(n.clientStreams('ip:b'));
      expect(hashedPart(n.clientStreams('ip:a'))).to.not.equal(hashedPart(n.clientStreams('ip:b')));
      expect(names(prefix, { hashTagged: true }).clientStreams('ip:a')).to.equal(n.clientStreams('ip:a'));
    }
  });
});
