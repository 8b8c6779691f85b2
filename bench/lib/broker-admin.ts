/** What the broker itself says about bindings (rabbitmqctl, as the operator would check). */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface BrokerBinding {
  readonly destination: string;
  readonly routingKey: string;
}

/** Every binding whose source is `exchange`. */
export async function bindingsFrom(exchange: string): Promise<BrokerBinding[]> {
  const { stdout } = await run(
    'rabbitmqctl',
    ['-q', 'list_bindings', 'source_name', 'destination_name', 'routing_key', '--no-table-headers'],
    { maxBuffer: 256 * 1024 * 1024 },
  );
  const out: BrokerBinding[] = [];
  for (const line of stdout.split('\n')) {
    const [source, destination, routingKey] = line.split('\t');
    if (source === exchange && destination !== undefined)
      out.push({ destination, routingKey: routingKey ?? '' });
  }
  return out;
}
