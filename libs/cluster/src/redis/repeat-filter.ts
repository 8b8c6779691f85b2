/** Lets a message through once per period, counting the repeats it held back. */
export class RepeatFilter {
  private readonly seen = new Map<string, { at: number; repeats: number }>();

  constructor(private readonly periodMs: number) {}

  /** The repeats held back since the message last passed, or undefined to hold this one back. */
  pass(message: string): number | undefined {
    const now = Date.now();
    const entry = this.seen.get(message);
    if (entry && now - entry.at < this.periodMs) {
      entry.repeats++;
      return undefined;
    }
    if (this.seen.size >= 100) this.seen.clear(); // bounded, whatever the messages
    this.seen.set(message, { at: now, repeats: 0 });
    return entry?.repeats ?? 0;
  }

  reset(): void {
    this.seen.clear();
  }
}
