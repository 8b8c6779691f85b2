import type { Bus, BusHandler, BusMessage, BusResubscribedHandler } from '../bus.js';

/** In-process bus for single-node mode: publish hands each envelope to the subscribed handler. */
export class MemoryBus implements Bus {
  private readonly channels = new Set<string>();
  private handler: BusHandler = () => undefined;

  async publish(messages: readonly BusMessage[]): Promise<void> {
    for (const { channel, envelope } of messages) {
      if (this.channels.has(channel)) this.handler(channel, envelope);
    }
  }

  async subscribe(channel: string): Promise<void> {
    this.channels.add(channel);
  }

  async unsubscribe(channel: string): Promise<void> {
    this.channels.delete(channel);
  }

  onMessage(handler: BusHandler): void {
    this.handler = handler;
  }

  /** An in-process subscription is never lost: nothing to tell. */
  onResubscribed(_handler: BusResubscribedHandler): void {}

  isConnected(): boolean {
    return true;
  }

  async close(): Promise<void> {
    this.channels.clear();
  }
}
