import { bindingKey, type Binding } from '@events-proxy/protocol';
import { withBindTimeout, type BindQueue } from '../bind-queue.js';

/** In-process bind queue for single-node mode: requests call the ingest's handler directly. */
export class MemoryBindQueue implements BindQueue {
  private handler: ((b: Binding) => Promise<void>) | undefined;
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly waiting: (() => void)[] = [];

  request(binding: Binding, timeoutMs: number): Promise<void> {
    const key = bindingKey(binding);
    let job = this.inFlight.get(key);
    if (!job) {
      job = this.run(binding).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, job);
    }
    return withBindTimeout(job, binding, timeoutMs);
  }

  private async run(binding: Binding): Promise<void> {
    while (!this.handler) await new Promise<void>((resolve) => this.waiting.push(resolve));
    await this.handler(binding);
  }

  async process(handler: (b: Binding) => Promise<void>): Promise<void> {
    this.handler = handler;
    for (const wake of this.waiting.splice(0)) wake();
  }

  isConnected(): boolean {
    return true;
  }

  async close(): Promise<void> {
    this.handler = undefined;
  }
}
