import { expect } from 'chai';
import { connectUrl } from './network-stream.js';
import { shareName } from './tab-share.js';

describe('client: connect URLs and share names', () => {
  const b = [{ exchange: 'exchange/a', routingKeyPattern: 'x.#' }];

  it("adds the v2 route to the edge's base URL, with the bindings and an optional since", () => {
    const url = new URL(connectUrl('https://events.example.com/', b, '2026-12-07T10:00:00Z'));
    expect(url.pathname).to.equal('/api/events/v2/connect/');
    expect(JSON.parse(url.searchParams.get('bindings')!)).to.deep.equal({ bindings: b });
    expect(url.searchParams.get('since')).to.equal('2026-12-07T10:00:00Z');
    expect(connectUrl('http://h:1//', b)).to.match(
      /^http:\/\/h:1\/api\/events\/v2\/connect\/\?bindings=[^&]+$/,
    );
  });

  it('sends only exchange and routingKeyPattern of each binding', () => {
    const extra = [{ ...b[0]!, label: 'mine' }];
    expect(connectUrl('http://h', extra)).to.equal(connectUrl('http://h', b));
  });

  it('names a shared stream by URL, bindings and credentials', () => {
    const name = shareName('http://h/', b, '');
    expect(name).to.match(/^events-proxy-client:[0-9a-z]+$/);
    expect(shareName('http://h', b, '')).to.equal(name);
    expect(shareName('http://h', b, 'user-2')).to.not.equal(name);
    expect(shareName('http://other', b, '')).to.not.equal(name);
    expect(shareName('http://h', [{ exchange: 'exchange/a', routingKeyPattern: 'y.#' }], '')).to.not.equal(
      name,
    );
  });
});
