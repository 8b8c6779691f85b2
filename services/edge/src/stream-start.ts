import { planReplay, type History } from '@events-proxy/cluster';
import { gapFrame, sseFrameWithId, v2ReadyData, withEventId, type Cursor } from '@events-proxy/protocol';
import type { ResumePoint } from './resume-point.js';
import type { StreamStart } from './sse-connection.js';
import { OutFrame } from './writer.js';

/** What a v2 stream is sent before live messages, and whether that was a gap. */
export interface PlannedStart {
  readonly start: StreamStart;
  readonly gap: boolean;
}

/** What every v2 `ready` of this edge says: `{"pingIntervalSeconds":<n>}`, rendered once. */
export class ReadyFrames {
  private readonly data: string;

  constructor(pingIntervalSeconds: number) {
    this.data = v2ReadyData(pingIntervalSeconds);
  }

  at(cursor: Cursor): OutFrame {
    return new OutFrame(Buffer.from(sseFrameWithId('ready', this.data, cursor)));
  }
}

/** A fresh v2 stream starts at the newest position (read after its channels were subscribed). */
export function freshStart(ready: ReadyFrames, newest: Cursor): PlannedStart {
  return { start: { ready: ready.at(newest), cursor: newest, replay: [], readThrough: [] }, gap: false };
}

/**
 * A resuming v2 stream (its bindings in place, its channels subscribed): what the history retained
 * after the resume point, and a `gap` when continuity cannot be proven. A cursor ahead of the
 * newest position (another installation's, or from before the clock went back) is a gap too.
 */
export async function resumedStart(
  ready: ReadyFrames,
  history: History,
  channels: readonly string[],
  resume: ResumePoint,
  nowMs: number,
): Promise<PlannedStart> {
  const newest = await history.newest();
  // A time not reached yet asks for what is received from then on: everything after now.
  if (resume.after > newest && resume.receivedSince !== undefined) return freshStart(ready, newest);
  // History off, or a cursor ahead of the newest position: nothing can be proven.
  const plan =
    resume.after > newest || history.retention.retentionMs === 0
      ? { gapTo: newest, entries: [], readThrough: [] }
      : planReplay(await history.read(channels, resume.after), {
          after: resume.after,
          nowMs,
          retentionMs: history.retention.retentionMs,
          ...(resume.receivedSince !== undefined ? { receivedSince: resume.receivedSince } : {}),
        });
  const cursor = plan.gapTo ?? resume.after;
  return {
    start: {
      ready: ready.at(cursor),
      cursor,
      ...(plan.gapTo !== undefined
        ? { gap: new OutFrame(Buffer.from(gapFrame(resume.from, plan.gapTo))) }
        : {}),
      replay: plan.entries.map((e) => ({
        cursor: e.cursor,
        frame: new OutFrame(withEventId(e.frame, e.cursor)),
      })),
      readThrough: plan.readThrough,
    },
    gap: plan.gapTo !== undefined,
  };
}
