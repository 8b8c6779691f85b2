import { expect } from 'chai';
import { createLogger } from './logger.js';

function capture(): { logger: ReturnType<typeof createLogger>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger('debug', { role: 'test' }, (line) =>
    lines.push(JSON.parse(line) as Record<string, unknown>),
  );
  return { logger, lines };
}

describe('runtime: log lines', () => {
  it('writes one JSON object per event, with the fields it concerns', () => {
    const { logger, lines } = capture();
    logger.child({ conn: 'c1' }).info('connection ready', { ms: 3 });
    expect(lines).to.have.length(1);
    expect(lines[0]).to.include({ level: 'info', msg: 'connection ready', role: 'test', conn: 'c1', ms: 3 });
  });

  it('writes an error as its text, whatever was thrown, and its stack only at level error', () => {
    const { logger, lines } = capture();
    logger.warn('could not bind', { error: new Error('queue gone') });
    logger.warn('could not bind', { error: 'queue gone' });
    logger.warn('could not bind', { error: 42 });
    logger.warn('refused', { error: new AggregateError([new Error('v4 refused'), new Error('v6 refused')]) });
    logger.error('a bug', { error: new Error('boom') });
    expect(lines.map((l) => l.error)).to.deep.equal([
      'queue gone',
      'queue gone',
      '42',
      'v4 refused; v6 refused',
      'boom',
    ]);
    expect(lines.slice(0, 4).every((l) => !('stack' in l))).to.equal(true);
    expect(lines[4]!.stack)
      .to.be.a('string')
      .and.match(/^Error: boom\n\s+at /);
  });
});
