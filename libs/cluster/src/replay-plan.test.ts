import { expect } from 'chai';
import { ORIGIN_CURSOR, formatCursor, type Cursor } from '@events-proxy/protocol';
import type { ChannelReplay, HistoryEntry } from './history.js';
import { planReplay, type ReplayRequest } from './replay-plan.js';

const NOW = 1_760_000_000_000;
const RETENTION = 300_000;

/** The cursor of message n: one per millisecond, received that millisecond unless told otherwise. */
const c = (n: number): Cursor => formatCursor(NOW - 100_000 + n, 0);
const entry = (n: number, receivedAt = NOW - 100_000 + n): HistoryEntry => ({
  cursor: c(n),
  receivedAt,
  frame: Buffer.from(`frame ${n}`),
});
const channel = (completeAfter: Cursor, ...entries: HistoryEntry[]): ChannelReplay => ({
  completeAfter,
  entries,
});
const request = (after: Cursor, extra: Partial<ReplayRequest> = {}): ReplayRequest => ({
  after,
  nowMs: NOW,
  retentionMs: RETENTION,
  ...extra,
});
const cursors = (entries: readonly HistoryEntry[]) => entries.map((e) => e.cursor);

describe('cluster: planReplay', () => {
  it('replays every channel after the cursor without a gap when each is complete from before it', () => {
    const plan = planReplay(
      [channel(c(0), entry(1), entry(4), entry(6)), channel(ORIGIN_CURSOR, entry(2), entry(5))],
      request(c(3)),
    );
    expect(plan.gapTo).to.equal(undefined);
    expect(cursors(plan.entries)).to.deep.equal([c(4), c(5), c(6)]);
  });

  it('is no gap when a channel is complete from exactly the cursor', () => {
    const plan = planReplay([channel(c(3), entry(4))], request(c(3)));
    expect(plan.gapTo).to.equal(undefined);
    expect(cursors(plan.entries)).to.deep.equal([c(4)]);
  });

  it('is a gap to the latest completeAfter of all channels, and nothing at or before it is replayed', () => {
    const plan = planReplay(
      [
        channel(c(0), entry(2), entry(5), entry(9)),
        channel(c(5), entry(6), entry(8)),
        channel(c(4), entry(7)),
        channel(ORIGIN_CURSOR),
      ],
      request(c(1)),
    );
    expect(plan.gapTo).to.equal(c(5));
    // c(2) and c(5) of the first channel are before the gap's end: the client resumes after c(5).
    expect(cursors(plan.entries)).to.deep.equal([c(6), c(7), c(8), c(9)]);
  });

  it('sends a message retained under several channels once, in cursor order across channels', () => {
    const shared = entry(5);
    const plan = planReplay(
      [
        channel(c(0), entry(3), shared, entry(8)),
        channel(c(0), shared, entry(6)),
        channel(c(0), entry(4), shared),
      ],
      request(c(0)),
    );
    expect(plan.gapTo).to.equal(undefined);
    expect(cursors(plan.entries)).to.deep.equal([c(3), c(4), c(5), c(6), c(8)]);
    expect(plan.entries[2]!.frame.toString()).to.equal('frame 5');
  });

  it('counts entries received before the retention window as missing: a gap through the newest of them', () => {
    const expired = NOW - RETENTION - 1;
    const plan = planReplay(
      [
        channel(c(0), entry(2, expired), entry(4, expired), entry(6), entry(9)),
        channel(c(0), entry(3), entry(7)),
      ],
      request(c(1)),
    );
    expect(plan.gapTo).to.equal(c(4));
    expect(cursors(plan.entries)).to.deep.equal([c(6), c(7), c(9)]);
  });

  it('keeps an entry received exactly at the start of the window', () => {
    const plan = planReplay([channel(c(0), entry(2, NOW - RETENTION))], request(c(1)));
    expect(plan.gapTo).to.equal(undefined);
    expect(cursors(plan.entries)).to.deep.equal([c(2)]);
  });

  it('is no gap when the expired entries are at or before the cursor anyway', () => {
    const expired = NOW - RETENTION - 1;
    const plan = planReplay([channel(c(0), entry(2, expired), entry(3, expired), entry(5))], request(c(3)));
    expect(plan.gapTo).to.equal(undefined);
    expect(cursors(plan.entries)).to.deep.equal([c(5)]);
  });

  it('since=<time>: leaves out what was received before that time, which is no gap', () => {
    const plan = planReplay(
      [channel(ORIGIN_CURSOR, entry(1), entry(2), entry(3)), channel(ORIGIN_CURSOR, entry(2), entry(4))],
      request(ORIGIN_CURSOR, { receivedSince: NOW - 100_000 + 2 }),
    );
    expect(plan.gapTo).to.equal(undefined);
    expect(cursors(plan.entries)).to.deep.equal([c(2), c(3), c(4)]);
  });

  it('since=<time> older than the history: a gap, then what was kept', () => {
    const plan = planReplay(
      [channel(c(2), entry(3), entry(4))],
      request(ORIGIN_CURSOR, { receivedSince: NOW - 200_000 }),
    );
    expect(plan.gapTo).to.equal(c(2));
    expect(cursors(plan.entries)).to.deep.equal([c(3), c(4)]);
  });

  it('with history off (retentionMs 0, every channel complete from the newest): a gap, nothing replayed', () => {
    const newest = c(50);
    const plan = planReplay([channel(newest), channel(newest)], request(c(10), { retentionMs: 0 }));
    expect(plan).to.deep.equal({ gapTo: newest, entries: [], readThrough: [ORIGIN_CURSOR, ORIGIN_CURSOR] });
  });

  it('tells per channel the newest cursor its history held when read, whatever was replayed', () => {
    const plan = planReplay(
      [channel(c(0), entry(3), entry(7)), channel(c(0)), channel(c(0), entry(5))],
      request(c(1), { receivedSince: Number.MAX_SAFE_INTEGER }),
    );
    expect(plan.entries).to.deep.equal([]);
    expect(plan.readThrough).to.deep.equal([c(7), ORIGIN_CURSOR, c(5)]);
  });

  it('a connection without channels replays nothing and has no gap', () => {
    expect(planReplay([], request(c(1)))).to.deep.equal({ gapTo: undefined, entries: [], readThrough: [] });
  });
});
