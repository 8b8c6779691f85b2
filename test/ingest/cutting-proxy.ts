/**
 * A TCP proxy in front of a broker that can cut its connections at a chosen point: after a number of
 * bytes from the client (somewhere inside a connection's set-up), or all at once. The broker itself
 * keeps running; only this client's connections are cut, as when a broker or the network goes away.
 */
import net from 'node:net';

export class CuttingProxy {
  /** Bytes the client sent on each connection, in order of connection. */
  readonly sent: number[] = [];
  private readonly pairs = new Set<[net.Socket, net.Socket]>();
  private cutNextAt: number | undefined;

  private constructor(private readonly server: net.Server) {}

  static async start(target: { host: string; port: number }): Promise<CuttingProxy> {
    const server = net.createServer();
    const proxy = new CuttingProxy(server);
    server.on('connection', (client) => proxy.accept(client, target));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** The next connection is cut once its client has sent `bytes` bytes. */
  cutNextConnectionAt(bytes: number): void {
    this.cutNextAt = bytes;
  }

  /** Cuts every open connection now. */
  cutAll(): void {
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    this.pairs.clear();
  }

  async close(): Promise<void> {
    this.cutAll();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private accept(client: net.Socket, target: { host: string; port: number }): void {
    const upstream = net.connect(target);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    this.pairs.add(pair);
    const index = this.sent.push(0) - 1;
    const cutAt = this.cutNextAt;
    this.cutNextAt = undefined;
    const cut = () => {
      client.destroy();
      upstream.destroy();
      this.pairs.delete(pair);
    };
    client.on('data', (chunk: Buffer) => {
      const before = this.sent[index]!;
      this.sent[index] = before + chunk.length;
      if (cutAt !== undefined && before + chunk.length >= cutAt) {
        // Forward only the bytes before the cut point, then cut: the broker sees a torn frame.
        const keep = Math.max(0, cutAt - before);
        if (keep > 0) upstream.write(chunk.subarray(0, keep), cut);
        else cut();
        return;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    client.on('error', cut);
    upstream.on('error', cut);
    client.on('close', cut);
    upstream.on('close', cut);
  }
}
