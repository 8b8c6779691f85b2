/** How often the bus's state is looked at. */
const CHECK_MS = 250;

export interface BusLossWatchOptions {
  readonly isConnected: () => boolean;
  /** BUS_LOSS_GRACE_SECONDS in ms; 0 turns the watch off. */
  readonly graceMs: number;
  /** The bus has been down `graceMs` without a break; called once per outage. */
  readonly onLost: () => void;
}

/**
 * Tells when the edge's bus (its Redis subscriber and publisher links) has been down for longer
 * than a blip: a reconnect within the grace keeps every stream (the hub catches up from the
 * history), but streams on an edge that stays cut off would only get pings, so past the grace
 * they are ended and their clients move to an edge that has a bus.
 */
export class BusLossWatch {
  private readonly timer: NodeJS.Timeout | undefined;
  private downSince: number | undefined;
  private told = false;

  constructor(private readonly opts: BusLossWatchOptions) {
    if (opts.graceMs <= 0) return;
    this.timer = setInterval(() => this.check(), Math.min(CHECK_MS, opts.graceMs));
    this.timer.unref();
  }

  /** When the bus went down, if it is down now (ms since the epoch). */
  get downAt(): number | undefined {
    return this.downSince;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private check(): void {
    if (this.opts.isConnected()) {
      this.downSince = undefined;
      this.told = false;
      return;
    }
    const now = Date.now();
    this.downSince ??= now;
    if (!this.told && now - this.downSince >= this.opts.graceMs) {
      this.told = true;
      this.opts.onLost();
    }
  }
}
