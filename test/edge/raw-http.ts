/** Plain `http.get` clients for the tests where exact status, headers and bytes matter. */
import http from 'node:http';

/** A response read as it arrives: status, headers, every byte of the body, and its end. */
export class RawResponse {
  body = '';
  ended = false;
  private waiters: (() => void)[] = [];

  private constructor(
    readonly res: http.IncomingMessage,
    private readonly req: http.ClientRequest,
  ) {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      this.body += chunk;
      this.wake();
    });
    res.on('end', () => {
      this.ended = true;
      this.wake();
    });
    res.on('error', () => undefined);
  }

  static open(url: string, headers: Record<string, string> = {}): Promise<RawResponse> {
    return new Promise((resolve, reject) => {
      const req = http.get(url, { headers, agent: false }, (res) => resolve(new RawResponse(res, req)));
      req.once('error', reject);
    });
  }

  get status(): number {
    return this.res.statusCode ?? 0;
  }

  get headers(): http.IncomingHttpHeaders {
    return this.res.headers;
  }

  /** Resolves when `check` holds over the body so far; rejects after `ms`. */
  async waitFor(check: (r: RawResponse) => boolean, what: string, ms = 5_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!check(this)) {
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`timed out waiting for ${what}; body so far: ${JSON.stringify(this.body)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 100));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  waitEnd(ms?: number): Promise<void> {
    return this.waitFor((r) => r.ended, 'the end of the response', ms);
  }

  close(): void {
    this.req.destroy();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

/** GETs a URL and reads the whole answer (for answers that end). */
export async function fetchAll(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const r = await RawResponse.open(url, headers);
  await r.waitEnd();
  return { status: r.status, headers: r.headers, body: r.body };
}

/** The SSE event with these fields, byte for byte. */
export function frame(kind: string, dataJson: string): string {
  return `event: ${kind}\ndata: ${dataJson}\nid: -\n\n`;
}
