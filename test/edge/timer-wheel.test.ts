import { expect } from 'chai';
import { READY_FRAME, errorFrame } from '@events-proxy/protocol';
import { startEdge, type TestEdge } from './harness.js';
import { RawResponse } from './raw-http.js';

const PING = /^event: ping\ndata: \{"time":"([0-9T:.Z-]+)"\}\nid: -\n\n$/;

/** Splits a body into its events (each ends with a blank line). */
const events = (body: string) => body.split(/(?<=\n\n)/).filter((e) => e !== '');

describe('edge: pings and idle closure', function () {
  this.timeout(20_000);
  let t: TestEdge;
  const raws: RawResponse[] = [];

  before(async () => {
    t = await startEdge({ PING_INTERVAL_SECONDS: '1', IDLE_TIMEOUT_SECONDS: '2' });
  });

  after(async () => {
    for (const r of raws) r.close();
    await t?.stop();
  });

  const open = async (pattern: string) => {
    const b = { exchange: 'exchange/test/timers', routingKeyPattern: pattern };
    const r = await RawResponse.open(t.url([b]));
    raws.push(r);
    await r.waitFor((x) => x.body.startsWith(READY_FRAME), 'ready');
    return { r, b };
  };

  it('closes a connection with no message for IDLE_TIMEOUT_SECONDS with the exact error, pings not counting', async () => {
    const idleBefore = await t.metric('events_edge_idle_closures_total');
    const closesBefore = await t.metric('events_edge_closes_total', { reason: 'idle' });
    const { r } = await open('idle');
    await r.waitEnd(6_000);
    const [ready, ...rest] = events(r.body);
    expect(ready).to.equal(READY_FRAME);
    const last = rest.pop();
    expect(last).to.equal(errorFrame('No messages received for 2s. Aborting...'));
    // Pings (one or two, the timers being coarse by a second) do not count as messages.
    expect(rest.length).to.be.at.most(2);
    for (const e of rest) expect(e).to.match(PING);
    expect(await t.metric('events_edge_idle_closures_total')).to.equal(idleBefore + 1);
    expect(await t.metric('events_edge_closes_total', { reason: 'idle' })).to.equal(closesBefore + 1);
  });

  it('keeps a connection that keeps receiving messages, pinging it every PING_INTERVAL_SECONDS', async () => {
    const { r, b } = await open('busy');
    const idle = await open('quiet');
    let sent = 0;
    while (!idle.r.ended) {
      await t.publish([b], `busy-${++sent}`, { sent });
      await new Promise((resolve) => setTimeout(resolve, 300));
      if (sent > 40) throw new Error('the quiet connection was never closed');
    }
    for (let i = 0; i < 5; i++) {
      await t.publish([b], `busy-${++sent}`, { sent });
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    expect(r.ended).to.equal(false);
    const all = events(r.body);
    const kinds = all.map((e) => /^event: (\w+)/.exec(e)![1]);
    expect(kinds.filter((k) => k === 'message')).to.have.length(sent);
    expect(kinds).not.to.include('error');
    const pingTimes = all
      .filter((e) => e.startsWith('event: ping'))
      .map((e) => Date.parse(PING.exec(e)![1]!));
    expect(pingTimes.length, 'pings in 3.5 s or more').to.be.at.least(2);
    for (let i = 1; i < pingTimes.length; i++) expect(pingTimes[i]! - pingTimes[i - 1]!).to.be.at.least(900);
  });
});
