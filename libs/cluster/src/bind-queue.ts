import { bindTimeoutError, type Binding } from '@events-proxy/protocol';

/**
 * Bind requests from edges to the ingest tier. Drivers: in-process (single node) and BullMQ.
 */
export interface BindQueue {
  /**
   * Asks the ingest tier to put the binding on the broker. Resolves when it is in place; rejects
   * with a BindError saying why not (or that no ingest answered within `timeoutMs`). Concurrent
   * requests for the same binding share one job.
   */
  request(binding: Binding, timeoutMs: number): Promise<void>;
  /** Ingest side: handles requests; a handler that throws fails the request with its message. */
  process(handler: (binding: Binding) => Promise<void>, concurrency: number): Promise<void>;
  isConnected(): boolean;
  close(): Promise<void>;
}

/**
 * The deadline every driver's `request()` keeps: `job` settles the request unless `timeoutMs`
 * passes first, which rejects with the binding's timeout BindError. The job itself goes on.
 */
export function withBindTimeout(job: Promise<void>, binding: Binding, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(bindTimeoutError(binding, timeoutMs)), timeoutMs);
    job.then(resolve, reject).finally(() => clearTimeout(timer));
  });
}
