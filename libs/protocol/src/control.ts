import type { Binding } from './bindings.js';

/** Why a binding could not be put in place; the message is shown to the client as is. */
export type BindFailureCode = 'ExchangeNotFound' | 'BrokerUnavailable' | 'Timeout' | 'Internal';

export class BindError extends Error {
  constructor(
    readonly code: BindFailureCode,
    message: string,
  ) {
    super(message);
    this.name = 'BindError';
  }
}

export function exchangeNotFoundMessage(exchange: string): string {
  return `Exchange \`${exchange}\` does not exist on the broker`;
}

export function bindTimeoutError(b: Binding, ms: number): BindError {
  return new BindError(
    'Timeout',
    `Timed out after ${Math.round(ms / 1000)}s waiting for the binding (${b.exchange}, ` +
      `${b.routingKeyPattern}) to be put in place: is the ingest tier running?`,
  );
}
