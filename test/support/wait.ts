/** Polls `check` until it holds; fails with `what` (read at the failure when a function) after `ms`. */
export async function waitUntil(
  check: () => Promise<boolean> | boolean,
  what: string | (() => string),
  ms: number,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${ms} ms waiting for ${typeof what === 'function' ? what() : what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
