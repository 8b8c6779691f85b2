import { Counter, type Registry } from 'prom-client';
import { ConfigError } from './env.js';
import { errorDetail } from './errors.js';
import type { Logger } from './logger.js';

/**
 * Runs a service's start-up; a failure prints what went wrong (a ConfigError lists every bad
 * variable) and exits 1.
 */
export function runService(role: string, start: () => Promise<void>): void {
  start().catch((err: unknown) => {
    if (err instanceof ConfigError) process.stderr.write(`${err.message}\n`);
    else {
      process.stderr.write(`${role} failed to start: ${errorDetail(err)}\n`);
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
      .catch((err: unknown) => logger.error('error while shutting down', { error: err }))
      .finally(() => process.exit(0));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

let unhandledRejections = 0;

/** `events_process_unhandled_rejections_total`, registered by the ops server of every process. */
export function registerProcessGuardMetrics(registry: Registry): void {
  let reported = 0;
  new Counter({
    name: 'events_process_unhandled_rejections_total',
    help: 'Promise rejections no code handled (each is a bug; the process logs it and keeps running).',
    registers: [registry],
    collect() {
      this.inc(unhandledRejections - reported);
      reported = unhandledRejections;
    },
  });
}

/**
 * Last line of defence: a promise rejection that no code handled is logged (with its stack) and
 * counted, instead of ending the process and every stream it serves. Each one is a bug, so it is
 * logged at error level, and the fault tests fail on any. Uncaught exceptions still end the
 * process (its state is unknown after one), but with one JSON log line saying why.
 */
export function guardProcess(logger: Logger): void {
  process.on('unhandledRejection', (reason: unknown) => {
    unhandledRejections++;
    logger.error('unhandled promise rejection (a bug: please report it)', {
      error: reason,
    });
  });
  process.on('uncaughtException', (err: Error) => {
    logger.error('uncaught exception; exiting', { error: err });
    process.exit(1);
  });
}
