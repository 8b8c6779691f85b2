import { planReplay, type History, type HistoryEntry } from '@events-proxy/cluster';
import type { Cursor } from '@events-proxy/protocol';

/** What a channel missed while its bus subscription was lost, as far as the history can tell. */
export interface CatchUp {
  /** The retained messages after the channel's last one, in cursor order. */
  readonly entries: readonly HistoryEntry[];
  /**
   * Set when the history cannot prove that nothing was missed (history off, trimmed past it, or the
   * channel's last cursor unknown): v2 streams are told `gap` up to this cursor.
   */
  readonly gapTo: Cursor | undefined;
}

/**
 * What a channel's clients missed after `after` (the newest cursor this edge received on it before
 * the link was lost; '' when it never knew one). Reads the history once for the whole edge.
 */
export async function planCatchUp(
  history: History,
  channel: string,
  after: Cursor,
  nowMs: number,
): Promise<CatchUp> {
  const { retentionMs } = history.retention;
  if (after === '' || retentionMs === 0) return { entries: [], gapTo: await history.newest() };
  const [replay] = await history.read([channel], after);
  const plan = planReplay(replay === undefined ? [] : [replay], { after, nowMs, retentionMs });
  return { entries: plan.entries, gapTo: plan.gapTo };
}
