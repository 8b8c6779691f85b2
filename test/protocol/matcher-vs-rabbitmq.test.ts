/**
 * Differential test: the topic matcher must predict exactly what a real RabbitMQ topic exchange
 * routes. Patterns and keys are generated from a seed (MATCHER_SEED to reproduce a run).
 */
import { expect } from 'chai';
import amqp from 'amqplib';
import { TopicMatcher } from '@events-proxy/protocol';
import { AMQP_URL, needRabbit } from '../support/services.js';
import { pick, seededRandom } from '../support/random.js';

const SEED = Number(process.env.MATCHER_SEED ?? 20261124);
const PATTERN_WORDS = ['a', 'b', 'c', '', '*', '#', '*', '#'];
const KEY_WORDS = ['a', 'b', 'c', ''];

function generate(rand: () => number, words: readonly string[], maxWords: number): string {
  const n = Math.floor(rand() * (maxWords + 1));
  if (n === 0) return rand() < 0.5 ? '' : pick(rand, words);
  return Array.from({ length: n }, () => pick(rand, words)).join('.');
}

describe('protocol: topic matcher agrees with RabbitMQ', function () {
  this.timeout(60_000);
  let conn: amqp.ChannelModel;
  let ch: amqp.ConfirmChannel;
  const exchange = `exchange/test/matcher-diff-${process.pid}-${Date.now()}`;

  before(async () => {
    await needRabbit();
    conn = await amqp.connect(AMQP_URL);
    ch = await conn.createConfirmChannel();
    await ch.assertExchange(exchange, 'topic', { durable: false, autoDelete: false });
  });

  after(async () => {
    await ch?.deleteExchange(exchange).catch(() => undefined);
    await conn?.close().catch(() => undefined);
  });

  for (const seed of [SEED, SEED + 1]) {
    it(`routes every generated key exactly as the matcher predicts (seed ${seed})`, async () => {
      const rand = seededRandom(seed);
      const patterns = [...new Set(Array.from({ length: 300 }, () => generate(rand, PATTERN_WORDS, 5)))];
      const matcher = new TopicMatcher();
      const queueOf = new Map<string, string>(); // queue name → pattern
      for (const pattern of patterns) {
        matcher.add(exchange, pattern);
        const q = await ch.assertQueue('', { exclusive: true, autoDelete: true });
        await ch.bindQueue(q.queue, exchange, pattern);
        queueOf.set(q.queue, pattern);
      }

      const messages = Array.from({ length: 300 }, (_, i) => {
        const cc =
          rand() < 0.3
            ? Array.from({ length: 1 + Math.floor(rand() * 2) }, () => generate(rand, KEY_WORDS, 4))
            : [];
        return { i, key: generate(rand, KEY_WORDS, 5), cc };
      });
      const expected = new Map<number, string[]>();
      let expectedTotal = 0;
      for (const m of messages) {
        const hit = matcher.match(exchange, m.key, m.cc).sort();
        expected.set(m.i, hit);
        expectedTotal += hit.length;
      }

      const received = new Map<number, string[]>();
      let total = 0;
      for (const [queue, pattern] of queueOf) {
        await ch.consume(
          queue,
          (msg) => {
            if (!msg) return;
            const i = Number(msg.content.toString());
            received.set(i, [...(received.get(i) ?? []), pattern]);
            total++;
          },
          { noAck: true },
        );
      }
      for (const m of messages) {
        ch.publish(exchange, m.key, Buffer.from(String(m.i)), m.cc.length ? { CC: m.cc } : {});
      }
      await ch.waitForConfirms();

      const deadline = Date.now() + 20_000;
      while (total < expectedTotal && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 300)); // let any unpredicted extra deliveries arrive

      const mismatches = messages
        .map((m) => ({ ...m, expected: expected.get(m.i)!, actual: (received.get(m.i) ?? []).sort() }))
        .filter((m) => JSON.stringify(m.expected) !== JSON.stringify(m.actual));
      expect(
        mismatches,
        `seed ${seed}: first mismatches ${JSON.stringify(mismatches.slice(0, 3))}`,
      ).to.deep.equal([]);
      expect(expectedTotal).to.be.greaterThan(100); // the generated cases really exercise matching
    });
  }
});
