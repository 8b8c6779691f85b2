/** The exact-delivery check: every client got every message of its key once, in order. */
import type { ClientGroup, ClientReport } from './sse-clients.js';
import { sleep } from './load.js';

export interface DeliveryCheck {
  /** True when nothing was lost, duplicated, reordered or cut off. */
  readonly exact: boolean;
  readonly clients: number;
  /** Messages each client should have received. */
  readonly expectedPerClient: number;
  readonly received: number;
  readonly problems: readonly string[];
}

export function checkDelivery(
  report: ClientReport,
  clients: number,
  expectedPerClient: number,
): DeliveryCheck {
  const problems: string[] = [];
  const expect = (ok: boolean, problem: string) => {
    if (!ok) problems.push(problem);
  };
  expect(report.ready === clients, `${report.ready} of ${clients} clients got ready`);
  expect(report.closedAfterReady === 0, `${report.closedAfterReady} streams ended by the server`);
  expect(report.errorEvents === 0, `${report.errorEvents} error events (first: ${report.firstError})`);
  expect(report.duplicates === 0, `${report.duplicates} duplicate or out-of-order messages`);
  expect(report.gaps === 0, `${report.gaps} gaps (${report.missing} messages skipped)`);
  expect(report.badFrames === 0, `${report.badFrames} frames that did not parse`);
  expect(
    report.nextSeqMin === expectedPerClient && report.nextSeqMax === expectedPerClient,
    `per-client counts ${report.nextSeqMin}..${report.nextSeqMax}, expected ${expectedPerClient}`,
  );
  expect(
    report.messages === clients * expectedPerClient,
    `${report.messages} messages received, expected ${clients * expectedPerClient}`,
  );
  return {
    exact: problems.length === 0,
    clients,
    expectedPerClient,
    received: report.messages,
    problems,
  };
}

/**
 * Polls the clients until they have received `total` messages (or nothing more arrives for
 * `quietMs`, or `timeoutMs` passes); returns the last report. Resets the interval figures.
 */
export async function waitDelivered(
  group: ClientGroup,
  total: number,
  timeoutMs: number,
  quietMs = 3000,
): Promise<ClientReport> {
  const deadline = Date.now() + timeoutMs;
  let report = await group.report();
  let lastChange = Date.now();
  let last = report.messages;
  while (report.messages < total && Date.now() < deadline && Date.now() - lastChange < quietMs) {
    await sleep(100);
    report = await group.report();
    if (report.messages !== last) {
      last = report.messages;
      lastChange = Date.now();
    }
  }
  return report;
}
