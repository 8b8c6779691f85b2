/**
 * The History contract (DESIGN.md §3b), run against every driver. A fixture gives two handles on
 * one store, like two ingests (one instance in memory), and can make the store lose everything, as
 * a Redis restart without persistence (or a single-node restart) does.
 */
import { expect } from 'chai';
import {
  ORIGIN_CURSOR,
  cursorBefore,
  formatCursor,
  isCursor,
  parseCursor,
  predecessor,
  type Cursor,
} from '@events-proxy/protocol';
import type { ChannelReplay, History, HistoryRetention, RecordedMessage } from '@events-proxy/cluster';
import { randomId } from '../support/processes.js';

export interface HistoryFixture {
  readonly a: History;
  readonly b: History;
  /** Loses every stored position and channel; returns the handle to go on with. */
  restart(): Promise<History>;
  close(): Promise<void>;
}

export type HistoryFixtureFactory = (
  retention: HistoryRetention,
  keyPrefix: string,
) => Promise<HistoryFixture>;

const LONG: HistoryRetention = { retentionMs: 600_000, maxMessages: 1000 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every byte value, bytes that are not UTF-8, and a CR LF: what a frame may hold. */
function binaryFrame(seed: number, size = 300): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 7 + seed) & 0xff;
  b.write('\r\n\u0000\xff', 0, 'latin1');
  return b;
}

export function historySuite(driver: string, createFixture: HistoryFixtureFactory): void {
  describe(`cluster: History contract (${driver})`, () => {
    let fixtures: HistoryFixture[];
    let prefix: string;
    const channel = (name: string) => `${prefix}msg:${name}`;
    const open = async (retention: HistoryRetention = LONG) => {
      const f = await createFixture(retention, prefix);
      fixtures.push(f);
      return f;
    };

    /** Positions for `channels.length` messages, each retained under its channels. */
    async function messages(
      h: History,
      channels: readonly (readonly string[])[],
      nowMs = Date.now(),
    ): Promise<RecordedMessage[]> {
      const cursors = await h.assign(channels.length, nowMs);
      return cursors.map((cursor, i) => ({
        cursor,
        receivedAt: nowMs,
        frame: binaryFrame(Number(cursor.slice(-6)) + i),
        channels: channels[i]!.map(channel),
      }));
    }
    const many = (n: number, ...names: string[]) => Array.from({ length: n }, () => names);
    const cursorsOf = (r: ChannelReplay) => r.entries.map((e) => e.cursor);
    const readOne = async (h: History, name: string, after: Cursor) =>
      (await h.read([channel(name)], after))[0]!;

    beforeEach(() => {
      fixtures = [];
      prefix = `test-${randomId()}:`;
    });

    afterEach(async () => {
      await Promise.all(fixtures.map((f) => f.close()));
    });

    describe('positions', () => {
      it('strictly increase across calls and across two ingests, whatever their clocks say', async () => {
        const { a, b } = await open();
        const now = Date.now();
        const given: Cursor[] = [];
        // Clocks ahead, behind and equal; batches of several sizes, interleaved between the two.
        const steps: [History, number, number][] = [
          [a, 3, now],
          [b, 1, now],
          [a, 5, now - 60_000],
          [b, 2, now + 50],
          [a, 1, now],
          [b, 4, now + 50],
          [a, 2, now + 51],
        ];
        for (const [h, count, nowMs] of steps) {
          const batch = await h.assign(count, nowMs);
          expect(batch).to.have.length(count);
          given.push(...batch);
        }
        for (const c of given) expect(isCursor(c), c).to.equal(true);
        for (let i = 1; i < given.length; i++)
          expect(given[i]! > given[i - 1]!, given.join(' ')).to.equal(true);
        // A batch is taken at its clock or later, and one batch shares one millisecond.
        const last = await a.assign(3, now + 10_000);
        expect(last.map((c) => parseCursor(c)!)).to.deep.equal(
          [0, 1, 2].map((seq) => ({ ms: now + 10_000, seq })),
        );
      });

      it('move to the next millisecond when a batch would pass sequence 999999', async () => {
        const { a } = await open();
        const ms = 9_999_999_999_998; // the largest 13 digits: exact, and printed as digits, by every driver
        const first = await a.assign(999_999, ms);
        expect(first[0]).to.equal(formatCursor(ms, 0));
        expect(first.at(-1)).to.equal(formatCursor(ms, 999_998));
        expect(await a.assign(2, ms)).to.deep.equal([formatCursor(ms + 1, 0), formatCursor(ms + 1, 1)]);
        expect(await a.assign(1, ms)).to.deep.equal([formatCursor(ms + 1, 2)]);
        expect(await a.newest()).to.equal(formatCursor(ms + 1, 2));
      });

      it('come after every old one once the store lost them (a restart without persistence)', async () => {
        const f = await open();
        const old = await f.a.assign(5, Date.now());
        const oldNewest = await f.a.newest();
        expect(oldNewest).to.equal(old.at(-1));
        while (Date.now() <= parseCursor(oldNewest)!.ms) await sleep(1); // a restart takes longer
        const h = await f.restart();
        const fresh = await h.assign(1, Date.now());
        expect(fresh[0]! > oldNewest, `${fresh[0]} after ${oldNewest}`).to.equal(true);
      });

      it('newest(): now before any assign, kept so later positions follow it; then the newest given', async () => {
        const { a, b } = await open();
        const before = cursorBefore(Date.now());
        const n0 = await a.newest();
        expect(isCursor(n0)).to.equal(true);
        expect(n0 >= before && n0 <= cursorBefore(Date.now()), `${before} <= ${n0}`).to.equal(true);
        expect(await a.newest()).to.equal(n0);
        // An ingest whose clock is a minute behind still positions after it.
        const [behind] = await b.assign(1, Date.now() - 60_000);
        expect(behind! > n0).to.equal(true);
        const batch = await a.assign(3, Date.now());
        expect(await a.newest()).to.equal(batch.at(-1));
        expect(await b.newest()).to.equal(batch.at(-1));
      });
    });

    describe('record and read', () => {
      it('round-trips binary frames byte-exact, with their cursor and receipt time', async () => {
        const { a, b } = await open();
        const batch = await messages(a, many(4, 'x'));
        const frames = [
          Buffer.alloc(0),
          binaryFrame(1, 65_536),
          Buffer.from([0xc3, 0x28, 0xff, 0xfe]),
          binaryFrame(9),
        ];
        const sent = batch.map((m, i) => ({ ...m, frame: frames[i]!, receivedAt: m.receivedAt - i }));
        await a.record(sent);
        const [replay] = await b.read([channel('x')], ORIGIN_CURSOR);
        expect(replay!.entries).to.have.length(4);
        replay!.entries.forEach((e, i) => {
          expect(e.cursor).to.equal(sent[i]!.cursor);
          expect(e.receivedAt).to.equal(sent[i]!.receivedAt);
          expect(Buffer.isBuffer(e.frame)).to.equal(true);
          expect(e.frame.equals(sent[i]!.frame), `frame ${i}`).to.equal(true);
        });
        // Recording began with the first message: a resume from just before it is complete.
        expect(replay!.completeAfter).to.equal(predecessor(sent[0]!.cursor));
      });

      it('returns only entries after the cursor, oldest first, across batches and channels', async () => {
        const { a, b } = await open();
        const recorded: RecordedMessage[] = [];
        for (const names of [many(3, 'x'), [['y'], ['x'], ['y']], many(4, 'x')]) {
          const batch = await messages(names.length % 2 ? a : b, names);
          await (names.length % 2 ? b : a).record(batch);
          recorded.push(...batch);
        }
        const onX = recorded.filter((m) => m.channels.includes(channel('x'))).map((m) => m.cursor);
        expect(onX).to.have.length(8);
        const pivot = onX[3]!;
        const replay = await readOne(a, 'x', pivot);
        expect(cursorsOf(replay)).to.deep.equal(onX.slice(4));
        expect(replay.completeAfter <= pivot).to.equal(true);
        expect(cursorsOf(await readOne(b, 'x', onX.at(-1)!))).to.deep.equal([]);
        // A cursor between two of the channel's messages (one of another channel).
        const onY = recorded.filter((m) => m.channels.includes(channel('y'))).map((m) => m.cursor);
        expect(cursorsOf(await readOne(a, 'x', onY[0]!))).to.deep.equal(onX.filter((c) => c > onY[0]!));
      });

      it('keeps a message recorded under two channels in both, and in one call per channel', async () => {
        const { a } = await open();
        const names = ['p', 'q', 'r', 's', 't'];
        const batch = await messages(a, [['p', 'q'], ['p'], ['q', 'r', 's', 't'], ['t', 'p'], ['q', 'q']]);
        await a.record(batch);
        const replays = await a.read(names.map(channel), ORIGIN_CURSOR);
        const expected = names.map((n) =>
          batch.filter((m) => m.channels.includes(channel(n))).map((m) => m.cursor),
        );
        expect(replays.map(cursorsOf)).to.deep.equal(expected);
        const shared = replays[0]!.entries[0]!;
        expect(shared.frame.equals(replays[1]!.entries[0]!.frame)).to.equal(true);
        expect(shared.frame.equals(batch[0]!.frame)).to.equal(true);
      });

      it('records a large batch of one channel whole and in order', async () => {
        const { a } = await open();
        const batch = await messages(a, many(700, 'big'));
        await a.record(batch);
        const replay = await readOne(a, 'big', ORIGIN_CURSOR);
        expect(cursorsOf(replay)).to.deep.equal(batch.map((m) => m.cursor));
        expect(replay.entries.every((e, i) => e.frame.equals(batch[i]!.frame))).to.equal(true);
      });

      it('is idempotent: a batch recorded again (a retry), even after a newer one, changes nothing', async () => {
        const { a, b } = await open();
        const first = await messages(a, [['x'], ['x', 'y'], ['y']]);
        await a.record(first);
        const once = await a.read([channel('x'), channel('y')], ORIGIN_CURSOR);
        await b.record(first);
        expect(await a.read([channel('x'), channel('y')], ORIGIN_CURSOR)).to.deep.equal(once);
        const second = await messages(b, [['x'], ['y']]);
        await b.record(second);
        const both = await a.read([channel('x'), channel('y')], ORIGIN_CURSOR);
        await a.record(first);
        await a.record([...first, ...second]);
        expect(await a.read([channel('x'), channel('y')], ORIGIN_CURSOR)).to.deep.equal(both);
        expect(cursorsOf(both[0]!)).to.deep.equal([first[0]!.cursor, first[1]!.cursor, second[0]!.cursor]);
      });

      it('reports a message recorded after a newer one (two ingests racing) as missing, not as replayed', async () => {
        const { a, b } = await open();
        const early = await messages(a, [['x']]);
        await a.record(early);
        const slow = await messages(a, [['x']]);
        const fast = await messages(b, [['x']]);
        await b.record(fast);
        await a.record(slow); // cannot go before `fast` in the channel's order
        const replay = await readOne(a, 'x', early[0]!.cursor);
        expect(replay.completeAfter >= slow[0]!.cursor, replay.completeAfter).to.equal(true);
        expect(cursorsOf(replay)).to.deep.equal([fast[0]!.cursor]);
      });
    });

    describe('retention', () => {
      it('keeps at most maxMessages: the newest dropped cursor is where continuity starts', async () => {
        const { a, b } = await open({ retentionMs: 600_000, maxMessages: 5 });
        const all: Cursor[] = [];
        // One at a time, and then in batches, so that trims run between calls and inside one.
        for (let i = 0; i < 8; i++) {
          const [m] = await messages(a, [['x']]);
          await a.record([m!]);
          all.push(m!.cursor);
        }
        const batch = await messages(b, many(9, 'x'));
        await b.record(batch);
        all.push(...batch.map((m) => m.cursor));
        const fromStart = await readOne(b, 'x', predecessor(all[0]!));
        expect(cursorsOf(fromStart)).to.deep.equal(all.slice(-5));
        expect(fromStart.completeAfter).to.equal(all.at(-6));
        // Resuming after the newest dropped one, or later, is complete; before it is a gap.
        const fromDropped = await readOne(a, 'x', all.at(-6)!);
        expect(cursorsOf(fromDropped)).to.deep.equal(all.slice(-5));
        expect(fromDropped.completeAfter <= all.at(-6)!).to.equal(true);
        const recent = await readOne(a, 'x', all.at(-3)!);
        expect(cursorsOf(recent)).to.deep.equal(all.slice(-2));
        expect(recent.completeAfter <= all.at(-3)!).to.equal(true);
      });

      it('replays at most maxMessages of a channel even before its storage trims', async () => {
        const { a } = await open({ retentionMs: 600_000, maxMessages: 20 });
        const batch = await messages(a, many(21, 'x'));
        await a.record(batch);
        const replay = await readOne(a, 'x', ORIGIN_CURSOR);
        expect(cursorsOf(replay)).to.deep.equal(batch.slice(1).map((m) => m.cursor));
        expect(replay.completeAfter).to.equal(batch[0]!.cursor);
      });

      it('trims entries older than retentionMs, and continuity starts after them', async () => {
        const { a } = await open({ retentionMs: 300, maxMessages: 1000 });
        const old = await messages(a, [['x'], ['x'], ['y']]);
        await a.record(old);
        await sleep(450);
        const fresh = await messages(a, [['x'], ['x']]);
        await a.record(fresh);
        const replay = await readOne(a, 'x', ORIGIN_CURSOR);
        expect(cursorsOf(replay)).to.deep.equal(fresh.map((m) => m.cursor));
        expect(replay.completeAfter).to.equal(old[1]!.cursor);
      });

      it('retentionMs 0: nothing is retained, and every channel is complete only from the newest', async () => {
        const { a } = await open({ retentionMs: 0, maxMessages: 1000 });
        await a.begin(channel('x'));
        const batch = await messages(a, [['x'], ['x']]);
        await a.record(batch);
        const newest = await a.newest();
        expect(newest).to.equal(batch.at(-1)!.cursor);
        expect(await a.read([channel('x'), channel('z')], ORIGIN_CURSOR)).to.deep.equal([
          { completeAfter: newest, entries: [] },
          { completeAfter: newest, entries: [] },
        ]);
      });
    });

    describe('begin, forget and unknown channels', () => {
      it('a channel never begun nor recorded is complete only from the newest position', async () => {
        const { a, b } = await open();
        await a.record(await messages(a, [['other'], ['other']]));
        const newest = await b.newest();
        expect(await b.read([channel('never')], ORIGIN_CURSOR)).to.deep.equal([
          { completeAfter: newest, entries: [] },
        ]);
      });

      it('begin() after a lapse: complete from the newest position at begin, older entries gone', async () => {
        const { a, b } = await open();
        const before = await messages(a, [['x'], ['x']]);
        await a.record(before);
        await a.record(await messages(a, [['other']])); // positions move on without the channel
        const atBegin = await b.newest();
        await b.begin(channel('x'));
        const afterBegin = await readOne(a, 'x', ORIGIN_CURSOR);
        expect(afterBegin).to.deep.equal({ completeAfter: atBegin, entries: [] });
        const later = await messages(b, [['x']]);
        await b.record(later);
        const resumed = await readOne(a, 'x', atBegin);
        expect(resumed.completeAfter).to.equal(atBegin);
        expect(cursorsOf(resumed)).to.deep.equal([later[0]!.cursor]);
        // A message positioned before begin, recorded after it, is not replayed: it predates continuity.
        await a.record(before);
        expect(cursorsOf(await readOne(a, 'x', ORIGIN_CURSOR))).to.deep.equal([later[0]!.cursor]);
      });

      it('begin() of a new channel: a resume from then on is complete', async () => {
        const { a } = await open();
        await a.assign(2, Date.now());
        const atBegin = await a.newest();
        await a.begin(channel('fresh'));
        const batch = await messages(a, [['fresh']]);
        await a.record(batch);
        expect(await readOne(a, 'fresh', atBegin)).to.deep.include({ completeAfter: atBegin });
        expect(cursorsOf(await readOne(a, 'fresh', atBegin))).to.deep.equal([batch[0]!.cursor]);
      });

      it('forget() drops the history; recording again starts a new one', async () => {
        const { a, b } = await open();
        await a.record(await messages(a, [['x'], ['x', 'y']]));
        await b.forget(channel('x'));
        const newest = await a.newest();
        const [x, y] = await a.read([channel('x'), channel('y')], ORIGIN_CURSOR);
        expect(x).to.deep.equal({ completeAfter: newest, entries: [] });
        expect(cursorsOf(y!)).to.have.length(1);
        const again = await messages(a, [['x']]);
        await a.record(again);
        const replay = await readOne(b, 'x', ORIGIN_CURSOR);
        expect(replay.completeAfter).to.equal(predecessor(again[0]!.cursor));
        expect(cursorsOf(replay)).to.deep.equal([again[0]!.cursor]);
      });

      it('after the store lost everything, an old cursor resumes with a gap', async () => {
        const f = await open();
        const batch = await messages(f.a, [['x'], ['x']]);
        await f.a.record(batch);
        while (Date.now() <= parseCursor(batch[1]!.cursor)!.ms) await sleep(1);
        const h = await f.restart();
        const replay = await readOne(h, 'x', batch[0]!.cursor);
        expect(replay.entries).to.deep.equal([]);
        expect(replay.completeAfter > batch[0]!.cursor, replay.completeAfter).to.equal(true);
      });
    });
  });
}
