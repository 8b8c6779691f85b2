/**
 * The text of a thrown value for logs and client-facing messages: an Error's message, anything
 * else as a string. Node reports a refused dual-stack connect as an AggregateError with no message
 * of its own; its parts' messages are joined instead.
 */
export function errorText(err: unknown): string {
  if (err instanceof AggregateError && err.message === '') {
    return err.errors.map((e: unknown) => errorText(e)).join('; ');
  }
  return err instanceof Error ? err.message : String(err);
}

/** For reports a person reads once (a failed start-up, a crashed benchmark): the stack when there is one. */
export function errorDetail(err: unknown): string {
  return err instanceof Error && err.stack !== undefined ? err.stack : errorText(err);
}
