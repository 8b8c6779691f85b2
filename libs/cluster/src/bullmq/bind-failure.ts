import { BindError, type BindFailureCode } from '@events-proxy/protocol';
import { errorText } from '@events-proxy/runtime';

/**
 * A failed job carries only its error's message (`failedReason`) across Redis, so the worker
 * packs the BindError's code and message into it as JSON, and the edge unpacks them.
 */
const CODES: readonly BindFailureCode[] = ['ExchangeNotFound', 'BrokerUnavailable', 'Timeout', 'Internal'];

export function encodeBindFailure(err: unknown): string {
  if (err instanceof BindError) return JSON.stringify({ code: err.code, message: err.message });
  return JSON.stringify({ code: 'Internal', message: errorText(err) });
}

/** Any reason that is not ours (a stalled job, a closing queue) becomes an 'Internal' BindError. */
export function decodeBindFailure(reason: string): BindError {
  try {
    const parsed: unknown = JSON.parse(reason);
    if (typeof parsed === 'object' && parsed !== null) {
      const { code, message } = parsed as { code?: unknown; message?: unknown };
      if (CODES.includes(code as BindFailureCode) && typeof message === 'string') {
        return new BindError(code as BindFailureCode, message);
      }
    }
  } catch {
    // not JSON: a reason BullMQ wrote itself
  }
  return new BindError('Internal', `The bind request failed: ${reason}`);
}
