/**
 * The BindQueue contract, run against every driver. A fixture gives the ingest's handle, two edges'
 * handles (all one instance in memory; separate clients for BullMQ) and `queued(n)`, which
 * resolves once n requests have reached the queue (so a test can make requests truly concurrent
 * before any handler runs).
 */
import { expect } from 'chai';
import { BindError, exchangeNotFoundMessage, type Binding } from '@events-proxy/protocol';
import type { BindQueue } from '@events-proxy/cluster';
import { randomId } from '../support/processes.js';
import { within } from './redis-support.js';

export interface BindQueueFixture {
  readonly ingest: BindQueue;
  readonly edges: readonly [BindQueue, BindQueue];
  queued(requests: number): Promise<void>;
  close(): Promise<void>;
}

export function bindQueueSuite(driver: string, createFixture: () => Promise<BindQueueFixture>): void {
  describe(`cluster: BindQueue contract (${driver})`, () => {
    let fixture: BindQueueFixture;
    let calls: Binding[];
    let binding: Binding;
    const ok = async (b: Binding) => {
      calls.push(b);
    };

    beforeEach(async () => {
      calls = [];
      binding = { exchange: `exchange/test/${randomId()}`, routingKeyPattern: 'a.*.#' };
      fixture = await createFixture();
    });

    afterEach(async () => {
      await fixture.close();
    });

    it('resolves a request once the handler has run', async () => {
      await fixture.ingest.process(ok, 2);
      await fixture.edges[0].request(binding, 5000);
      expect(calls).to.deep.equal([binding]);
    });

    it('fails a request with the BindError the handler threw: same code, same message', async () => {
      const message = exchangeNotFoundMessage(binding.exchange);
      await fixture.ingest.process(async () => {
        throw new BindError('ExchangeNotFound', message);
      }, 1);
      const err = await fixture.edges[0].request(binding, 5000).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(BindError);
      expect((err as BindError).code).to.equal('ExchangeNotFound');
      expect((err as BindError).message).to.equal(message);
    });

    it('fails a request with the message of any other error the handler threw', async () => {
      await fixture.ingest.process(() => Promise.reject(new Error('broker said no')), 1);
      const err = await fixture.edges[0].request(binding, 5000).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(Error);
      expect((err as Error).message).to.equal('broker said no');
    });

    it('runs the handler once for concurrent requests of one binding, from several edges', async () => {
      const other: Binding = { exchange: binding.exchange, routingKeyPattern: 'other' };
      const [e1, e2] = fixture.edges;
      const requests = [e1, e1, e2, e1, e2].map((q) => q.request(binding, 10_000));
      requests.push(e2.request(other, 10_000));
      await within(fixture.queued(requests.length), 5000, 'every request to be queued');
      await fixture.ingest.process(ok, 4);
      await Promise.all(requests);
      expect(calls).to.have.deep.members([binding, other]);
      expect(calls).to.have.length(2);
    });

    it('serves a request made before process() started, once it starts', async () => {
      const request = fixture.edges[0].request(binding, 10_000);
      await fixture.ingest.process(ok, 1);
      await request;
      expect(calls).to.deep.equal([binding]);
    });

    it('runs the handler again for a request after a finished one (no stale outcome)', async () => {
      let attempts = 0;
      await fixture.ingest.process(async (b) => {
        if (++attempts === 1) throw new BindError('BrokerUnavailable', 'broker down');
        calls.push(b);
      }, 1);
      const first = await fixture.edges[0].request(binding, 5000).catch((e: unknown) => e);
      expect((first as BindError).code).to.equal('BrokerUnavailable');
      await fixture.edges[1].request(binding, 5000);
      expect(calls).to.deep.equal([binding]);
    });

    it("fails with a 'Timeout' BindError when no ingest answers in time", async () => {
      const err = await fixture.edges[0].request(binding, 300).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(BindError);
      expect((err as BindError).code).to.equal('Timeout');
      expect((err as BindError).message).to.include(binding.exchange);
    });
  });
}
