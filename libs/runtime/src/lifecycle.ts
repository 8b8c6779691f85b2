import { ConfigError } from './env.js';
import type { Logger } from './logger.js';

/**
 * Runs a service's start-up; a failure prints what went wrong (a ConfigError lists every bad
 * variable) and exits 1.
 */
export function runService(role: string, start: () => Promise<void>): void {
  start().catch((err: unknown) => {
    if (err instanceof ConfigError) process.stderr.write(`${err.message}\n`);
    else {
      const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
      process.stderr.write(`${role} failed to start: ${detail}\n`);
    }
    process.exit(1);
  });
}

/** On the first SIGTERM or SIGINT: runs `stop` (draining, closing), then exits 0. */
export function stopOnSignals(logger: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal });
    stop()
      .catch((err: unknown) =>
        logger.error('error while shutting down', {
          error: err instanceof Error ? err.message : String(err),
        }),
      )
      .finally(() => process.exit(0));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
