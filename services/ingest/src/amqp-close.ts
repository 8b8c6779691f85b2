import type { Channel, ChannelModel } from 'amqplib';

/**
 * Closes an amqplib channel or connection and resolves once it is closed, by whichever route:
 * amqplib's close() waits for the broker's close-ok and never settles when the connection dies
 * first (the socket is gone, no reply will come), but the object still emits 'close'. Never rejects;
 * closing something already closed resolves at once.
 */
export function closeQuietly(target: Channel | ChannelModel): Promise<void> {
  return new Promise<void>((resolve) => {
    target.once('close', () => resolve());
    target.close().then(
      () => resolve(),
      () => resolve(),
    );
  });
}
