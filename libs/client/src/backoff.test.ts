import { expect } from 'chai';
import { backoffDelay } from './backoff.js';
import { retryAfterMs } from './attempt.js';

describe('client: backoff and Retry-After', () => {
  const at = (r: number) => () => r;

  it("starts at the server's retry floor and doubles the ceiling with each failure, up to the maximum", () => {
    expect(backoffDelay(1, 1000, 30_000, 0, at(0))).to.equal(1000);
    expect(backoffDelay(1, 1000, 30_000, 0, at(1))).to.equal(2000);
    expect(backoffDelay(3, 1000, 30_000, 0, at(1))).to.equal(8000);
    expect(backoffDelay(10, 1000, 30_000, 0, at(1))).to.equal(30_000);
    expect(backoffDelay(10, 1000, 30_000, 0, at(0.5))).to.equal(15_500);
  });

  it('never waits less than a Retry-After, and a floor above the maximum is cut to it', () => {
    expect(backoffDelay(1, 1000, 30_000, 5000, at(0))).to.equal(5000);
    expect(backoffDelay(1, 60_000, 30_000, 0, at(0.7))).to.equal(30_000);
  });

  it('full jitter: over many draws, waits spread across the whole range', () => {
    const draws = Array.from({ length: 2000 }, () => backoffDelay(4, 1000, 30_000));
    expect(Math.min(...draws)).to.be.within(1000, 1500);
    expect(Math.max(...draws)).to.be.within(15_000, 16_000);
  });

  it('reads Retry-After as seconds or as an HTTP date, and ignores what is neither', () => {
    const now = Date.parse('2026-12-07T10:00:00Z');
    expect(retryAfterMs('2', now)).to.equal(2000);
    expect(retryAfterMs(' 0 ', now)).to.equal(0);
    expect(retryAfterMs('Mon, 07 Dec 2026 10:00:30 GMT', now)).to.equal(30_000);
    expect(retryAfterMs('Mon, 07 Dec 2026 09:00:00 GMT', now)).to.equal(0);
    expect(retryAfterMs('soon', now)).to.equal(undefined);
    expect(retryAfterMs(null, now)).to.equal(undefined);
  });
});
