/** HISTORY_SECONDS and HISTORY_MAX_MESSAGES (DESIGN.md §3b, §4), read by both roles. */
import { expect } from 'chai';
import type { ConfigError } from '@events-proxy/runtime';
import { EnvReader, readCommonConfig } from '@events-proxy/runtime';

function read(env: Record<string, string>) {
  const reader = new EnvReader({ REDIS_URL: 'redis://localhost:6379', ...env });
  const config = readCommonConfig(reader);
  try {
    reader.done();
    return { retention: config.historyRetention, problems: [] as readonly string[] };
  } catch (err) {
    return { retention: config.historyRetention, problems: (err as ConfigError).problems };
  }
}

describe('runtime: history configuration', () => {
  it('keeps 300 s and 1000 messages per channel by default', () => {
    expect(read({})).to.deep.equal({ retention: { retentionMs: 300_000, maxMessages: 1000 }, problems: [] });
  });

  it('reads both, HISTORY_SECONDS 0 (history off) and fractions of a second included', () => {
    expect(read({ HISTORY_SECONDS: '0', HISTORY_MAX_MESSAGES: '1' }).retention).to.deep.equal({
      retentionMs: 0,
      maxMessages: 1,
    });
    expect(read({ HISTORY_SECONDS: '86400', HISTORY_MAX_MESSAGES: '1000000' }).retention).to.deep.equal({
      retentionMs: 86_400_000,
      maxMessages: 1_000_000,
    });
    expect(read({ HISTORY_SECONDS: '2.5' }).retention.retentionMs).to.equal(2500);
  });

  it('refuses values out of range, naming the variable and the range', () => {
    for (const env of [
      { HISTORY_SECONDS: '-1' },
      { HISTORY_SECONDS: '86401' },
      { HISTORY_SECONDS: 'long' },
    ]) {
      expect(read(env).problems, JSON.stringify(env)).to.deep.equal([
        `HISTORY_SECONDS=${JSON.stringify(env.HISTORY_SECONDS)}: expected a number of seconds from 0 to 86400`,
      ]);
    }
    for (const value of ['0', '1000001', '1.5']) {
      expect(read({ HISTORY_MAX_MESSAGES: value }).problems).to.deep.equal([
        `HISTORY_MAX_MESSAGES=${JSON.stringify(value)}: expected a whole number from 1 to 1000000`,
      ]);
    }
  });
});
