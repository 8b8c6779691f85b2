/**
 * The readiness-following loopback balancer (test/support/tcp-balancer.ts) as a process of its own,
 * so that forwarding every client's stream does not compete with the harness's event loop (which
 * publishes, runs the fault proxies and takes the reports). Started by readiness-balancer.ts.
 *
 * argv[2]: JSON `{ "backends": [{ "name", "port", "readyzUrl" }], "pollMs", "policy"? }`. Prints `{"port":N}`
 * once listening; on "s\n" on stdin prints `{"stats":{…}}`; exits when stdin ends.
 */
import readline from 'node:readline';
import { TcpBalancer, type BalancePolicy } from '../../test/support/tcp-balancer.js';

interface Config {
  readonly backends: readonly { name: string; port: number; readyzUrl: string }[];
  readonly pollMs: number;
  readonly policy?: BalancePolicy;
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '{}') as Config;
  const balancer = await TcpBalancer.start(config.policy);
  for (const b of config.backends) {
    balancer.add(b.name, b.port);
    balancer.followReadiness(b.name, b.readyzUrl, config.pollMs);
  }
  // Readiness down/up transitions as seen by the balancer, for the record.
  const transitions: { name: string; up: boolean; at: number }[] = [];
  let last = new Set(balancer.up);
  const watch = setInterval(() => {
    const now = new Set(balancer.up);
    for (const b of config.backends)
      if (now.has(b.name) !== last.has(b.name))
        transitions.push({ name: b.name, up: now.has(b.name), at: Date.now() });
    last = now;
  }, 20);
  process.stdout.write(`${JSON.stringify({ port: balancer.port })}\n`);
  const input = readline.createInterface({ input: process.stdin });
  input.on('line', (line) => {
    if (line.trim() !== 's') return;
    const open = balancer.open();
    const stats = {
      routed: balancer.routed.length,
      open: Object.fromEntries(
        config.backends.map((b) => [b.name, open.filter((c) => c.backend === b.name).length]),
      ),
      routedTo: Object.fromEntries(
        config.backends.map((b) => [b.name, balancer.routed.filter((c) => c.backend === b.name).length]),
      ),
      failed: balancer.routed.filter((c) => c.failure !== undefined && c.backend !== undefined).length,
      noBackend: balancer.routed.filter((c) => c.backend === undefined).length,
      failures: balancer.routed.reduce<Record<string, number>>((out, c) => {
        if (c.failure !== undefined) out[c.failure] = (out[c.failure] ?? 0) + 1;
        return out;
      }, {}),
      up: balancer.up,
      transitions,
    };
    process.stdout.write(`${JSON.stringify({ stats })}\n`);
  });
  input.on('close', () => {
    clearInterval(watch);
    void balancer.close().finally(() => process.exit(0));
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
