/** Rejects with the first command error of a pipeline's results (ioredis reports them per command). */
export function throwFirstError(results: [Error | null, unknown][] | null): void {
  if (!results) throw new Error('Redis pipeline was discarded (connection closed)');
  for (const [err] of results) if (err) throw err;
}
