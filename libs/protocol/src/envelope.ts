/**
 * What travels on the bus for one matching message: a small ASCII header, then the SSE frame
 * bytes exactly as the edge writes them to clients.
 *
 *   <message id> <ingest receipt time, ms since the epoch>\n<frame>
 *
 * The id lets an edge deliver a message once to a connection whose several bindings matched it
 * (it arrives once per matching channel); the time gives the delivery-lag metric.
 */
export interface Envelope {
  readonly id: string;
  readonly receivedAt: number;
  readonly frame: Buffer;
}

/** The envelope's header line; `id` must be printable ASCII without spaces. */
export function envelopeHeader(id: string, receivedAt: number): string {
  return `${id} ${receivedAt}\n`;
}

export function encodeEnvelope(id: string, receivedAt: number, frame: Buffer): Buffer {
  const header = Buffer.from(envelopeHeader(id, receivedAt), 'latin1');
  return Buffer.concat([header, frame], header.length + frame.length);
}

export function decodeEnvelope(buf: Buffer): Envelope | undefined {
  const nl = buf.indexOf(0x0a);
  if (nl < 0) return undefined;
  const header = buf.toString('latin1', 0, nl);
  const space = header.indexOf(' ');
  const receivedAt = Number(header.slice(space + 1));
  if (space < 1 || !Number.isFinite(receivedAt)) return undefined;
  return { id: header.slice(0, space), receivedAt, frame: buf.subarray(nl + 1) };
}
