import type { Binding } from '@events-proxy/protocol';

/**
 * The exchanges a token lets its holder bind to: its `exchanges` claim, each entry an exact name
 * or a prefix ending in `*` (`exchange/taskcluster-queue/*`). A lone `*` grants every exchange.
 */
export class ExchangeGrants {
  private readonly exact: ReadonlySet<string>;
  private readonly prefixes: readonly string[];

  private constructor(entries: readonly string[]) {
    this.exact = new Set(entries.filter((e) => !e.endsWith('*')));
    this.prefixes = entries.filter((e) => e.endsWith('*')).map((e) => e.slice(0, -1));
  }

  /** The grants of an `exchanges` claim, or a description of what is wrong with it. */
  static fromClaim(claim: unknown): ExchangeGrants | string {
    if (claim === undefined) return new ExchangeGrants([]);
    if (!Array.isArray(claim)) return 'its `exchanges` claim must be an array of exchange names';
    if (!claim.every((e): e is string => typeof e === 'string' && e !== '')) {
      return 'every entry of its `exchanges` claim must be a non-empty string (an exchange name, or a prefix ending in `*`)';
    }
    return new ExchangeGrants(claim);
  }

  allows(exchange: string): boolean {
    return this.exact.has(exchange) || this.prefixes.some((p) => exchange.startsWith(p));
  }

  /** The first binding's exchange that is not granted, if any. */
  firstRefused(bindings: readonly Binding[]): string | undefined {
    return bindings.find((b) => !this.allows(b.exchange))?.exchange;
  }
}
