/**
 * Checks on what a v2 client received of a numbered sequence: every message exactly once, in
 * order, with cursors that only go up, and the figures that say how far from that it was.
 */
import { expect } from 'chai';
import { summarise } from './figures.js';

/** One `message` event of the sequence: the payload's number and the event's cursor. */
export interface Delivered {
  readonly seq: number;
  readonly id: string;
  /** Where it came from (which connection, say), for failure messages. */
  readonly via?: string;
}

export interface DeliveryFigures {
  /** Expected numbers never received. */
  readonly lost: number[];
  /** Numbers received more than once. */
  readonly duplicates: number[];
  /** Times a number came after a higher one. */
  readonly outOfOrder: number;
  /** Times a cursor was not greater than the one before it. */
  readonly cursorsNotIncreasing: number;
}

export function deliveryFigures(expected: readonly number[], got: readonly Delivered[]): DeliveryFigures {
  const seen = new Set<number>();
  const twice = new Set<number>();
  let outOfOrder = 0;
  let cursorsNotIncreasing = 0;
  for (const [i, d] of got.entries()) {
    (seen.has(d.seq) ? twice : seen).add(d.seq);
    const before = got[i - 1];
    if (before === undefined) continue;
    if (d.seq < before.seq) outOfOrder++;
    // Cursors are fixed-width strings that order as they compare (libs/protocol cursor.ts).
    if (!(d.id > before.id)) cursorsNotIncreasing++;
  }
  return {
    lost: expected.filter((s) => !seen.has(s)),
    duplicates: [...twice],
    outOfOrder,
    cursorsNotIncreasing,
  };
}

/** Asserts `got` is exactly `expected`, in order, each once, with strictly increasing cursors. */
export function expectExactlyOnceInOrder(
  expected: readonly number[],
  got: readonly Delivered[],
  what: string,
): DeliveryFigures {
  const f = deliveryFigures(expected, got);
  const seqs = got.map((d) => d.seq);
  const detail =
    `${what}: lost ${summarise(f.lost)}, duplicates ${summarise(f.duplicates)}, out of order ${f.outOfOrder}, ` +
    `received ${summarise(seqs)}; each duplicate as received: ${JSON.stringify(
      got.filter((d) => f.duplicates.includes(d.seq)),
    )}`;
  expect(f.lost, detail).to.deep.equal([]);
  expect(f.duplicates, detail).to.deep.equal([]);
  expect(seqs, detail).to.deep.equal(expected);
  expect(f.cursorsNotIncreasing, `${what}: cursors that did not increase`).to.equal(0);
  return f;
}
