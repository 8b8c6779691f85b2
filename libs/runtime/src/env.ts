/**
 * Reading configuration from environment variables: each reader records problems instead of
 * throwing, so a bad start reports every wrong variable at once, with what it expects.
 */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

export class EnvReader {
  private readonly problems: string[] = [];
  /** Every variable name read, in order (the chart and docs are checked against this). */
  readonly names: string[] = [];

  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}

  private raw(name: string): string | undefined {
    if (!this.names.includes(name)) this.names.push(name);
    const v = this.env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  }

  /** A string; `undefined` when unset and no default. */
  string(name: string): string | undefined;
  string(name: string, fallback: string): string;
  string(name: string, fallback?: string): string | undefined {
    return this.raw(name) ?? fallback;
  }

  /** A string that may be set to empty on purpose (an empty value is kept, unlike `string`). */
  stringAllowEmpty(name: string, fallback: string): string {
    this.raw(name);
    return this.env[name] ?? fallback;
  }

  int(name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!/^-?\d+$/.test(v) || n < min || n > max) {
      this.problems.push(`${name}=${JSON.stringify(v)}: expected a whole number from ${min} to ${max}`);
      return fallback;
    }
    return n;
  }

  /** A number, fractions allowed (e.g. a ratio). */
  number(name: string, fallback: number, min: number, max: number): number {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
      this.problems.push(`${name}=${JSON.stringify(v)}: expected a number from ${min} to ${max}`);
      return fallback;
    }
    return n;
  }

  /** A number of seconds (fractions allowed), returned in milliseconds. */
  seconds(name: string, fallbackSeconds: number, min = 0, max = 86_400 * 365): number {
    const v = this.raw(name);
    if (v === undefined) return fallbackSeconds * 1000;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) {
      this.problems.push(`${name}=${JSON.stringify(v)}: expected a number of seconds from ${min} to ${max}`);
      return fallbackSeconds * 1000;
    }
    return Math.round(n * 1000);
  }

  bool(name: string, fallback: boolean): boolean {
    const v = this.raw(name)?.toLowerCase();
    if (v === undefined) return fallback;
    if (['1', 'true', 'yes', 'on'].includes(v)) return true;
    if (['0', 'false', 'no', 'off'].includes(v)) return false;
    this.problems.push(`${name}=${JSON.stringify(v)}: expected true or false`);
    return fallback;
  }

  /** A comma-separated list; set but empty means an empty list. */
  list(name: string, fallback: readonly string[]): string[] {
    this.raw(name);
    const v = this.env[name];
    if (v === undefined) return [...fallback];
    return v
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    if ((allowed as readonly string[]).includes(v)) return v as T;
    this.problems.push(`${name}=${JSON.stringify(v)}: expected one of ${allowed.join(', ')}`);
    return fallback;
  }

  url(name: string, protocols: readonly string[], fallback?: string): string | undefined {
    const v = this.raw(name) ?? fallback;
    if (v === undefined) return undefined;
    try {
      const u = new URL(v);
      if (!protocols.includes(u.protocol)) throw new Error();
    } catch {
      this.problems.push(
        `${name}: expected a URL starting with ${protocols.map((p) => p + '//').join(' or ')}`,
      );
    }
    return v;
  }

  problem(message: string): void {
    this.problems.push(message);
  }

  /** Throws a ConfigError listing every problem found, if any. */
  done(): void {
    if (this.problems.length > 0) throw new ConfigError(this.problems);
  }
}
