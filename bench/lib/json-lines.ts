/** Reads a child's stdout as JSON lines and waits for the ones the caller needs. */
import readline from 'node:readline';
import type { Child } from './children.js';

export class JsonLines<T> {
  readonly lines: T[] = [];
  private waiters: (() => void)[] = [];
  private stderr = '';
  /** stdout has ended: no more lines will come (the process may still be exiting). */
  private ended = false;

  constructor(private readonly child: Child) {
    const reader = readline.createInterface({ input: child.process.stdout! });
    reader.on('line', (line) => {
      this.lines.push(JSON.parse(line) as T);
      this.wake();
    });
    reader.on('close', () => {
      this.ended = true;
      this.wake();
    });
    child.process.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** The first line at index ≥ `from` that satisfies `match`; rejects if the child exits first. */
  async next(match: (line: T) => boolean, from: number, timeoutMs: number, what: string): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.slice(from).find(match);
      if (found) return found;
      if (this.ended) {
        const code = await this.child.exited;
        throw new Error(
          `${this.child.name} (${this.child.pid}) exited (${code}) before ${what}: ${this.stderr.trim()}`,
        );
      }
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`${this.child.name} (${this.child.pid}): no ${what} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1000));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}
