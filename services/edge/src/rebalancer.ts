import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { EdgeLoad, EdgeLoads } from '@events-proxy/cluster';
import { errorText, type Logger } from '@events-proxy/runtime';
import type { Gauge } from 'prom-client';
import type { RebalanceConfig } from './config.js';
import { excessOver, settled, steady, tierView, unbalanced } from './tier-balance.js';

/** This edge reports its counts, and looks at the tier, this often. */
export const REPORT_INTERVAL_MS = 1000;
/** A report counts this long unless renewed: a dead edge leaves the mean within it. */
export const REPORT_TTL_MS = 5000;
/** A stream this young is not moved (it may have just been moved here). */
export const MIN_STREAM_AGE_MS = 10_000;
/** A second's sheds are spread over it in this many steps. */
const SHED_STEPS = 10;
/** Looks over which the tier's total must have held steady for streams to move (see `steady`). */
const STEADY_LOOKS = 3;

export interface RebalancerDeps {
  readonly loads: EdgeLoads;
  readonly config: RebalanceConfig;
  /**
   * Whether a moved v2 stream resumes losslessly (the history is on). Without it a move would cost
   * its client a `gap`: the edge still reports its counts, and moves nothing.
   */
  readonly lossless: boolean;
  /** This edge's open streams now. */
  counts(): { readonly v1: number; readonly v2: number };
  /** Whether the edge takes new streams (its bus up, not draining). */
  isReady(): boolean;
  /** Ends up to `n` live v2 streams at least `minAgeMs` old, youngest first; returns how many it ended. */
  shed(n: number, minAgeMs: number): number;
  readonly metrics: { readonly tierEdges: Gauge; readonly tierMeanStreams: Gauge };
  readonly logger: Logger;
}

/**
 * Keeps this edge's share of the tier's streams near the mean (DESIGN.md §3e): every second it
 * reports its counts and reads the other edges'; above the ready edges' mean by more than
 * REBALANCE_TOLERANCE (or above it while another edge is as far below it), it ends v2 streams,
 * youngest first, at most REBALANCE_RATE_PER_SECOND, towards the mean, until the tier is within
 * half the tolerance (never below the mean). It moves nothing while the tier's total is changing
 * (clients arriving or leaving in numbers), nor without a history (a move would cost a `gap`).
 * Their clients resume through the Service, on whichever ready edge it picks. Nothing here is
 * needed for correctness: while Redis cannot be reached the edge simply stops rebalancing.
 */
export class Rebalancer {
  readonly edgeId = `${hostname()}-${randomBytes(4).toString('hex')}`;
  private timer: NodeJS.Timeout | undefined;
  private looking = false;
  /**
   * While moving streams: the tier's total when it started (steady then). The mean is taken from it
   * rather than from the reports meanwhile, which miss the clients still reconnecting.
   */
  private episodeTotal: number | undefined;
  /** Streams still to end this second, and the timer spreading them. */
  private pending = 0;
  private stepTimer: NodeJS.Timeout | undefined;
  private failing = false;
  /** The tier's total streams at the last looks, oldest first. */
  private readonly totals: number[] = [];
  /** Whether this edge moves streams at all (REBALANCE_TOLERANCE > 0 and the history on). */
  private readonly moves: boolean;

  constructor(private readonly deps: RebalancerDeps) {
    this.moves = deps.config.tolerance > 0 && deps.lossless;
    if (deps.config.tolerance > 0 && !deps.lossless) {
      deps.logger.warn(
        'not rebalancing the edge tier: with HISTORY_SECONDS=0 a moved v2 stream would resume with a gap; set HISTORY_SECONDS above 0 (on the ingest and the edges) to rebalance, or REBALANCE_TOLERANCE=0 to silence this',
      );
    }
  }

  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => void this.look(), REPORT_INTERVAL_MS);
    this.timer.unref();
    void this.look();
  }

  /** Stops, and takes this edge's report back so that the others stop counting it at once. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    clearInterval(this.stepTimer);
    this.timer = this.stepTimer = undefined;
    this.pending = 0;
    await this.deps.loads.withdraw(this.edgeId).catch(() => undefined);
  }

  private own(): EdgeLoad {
    const { v1, v2 } = this.deps.counts();
    return { edge: this.edgeId, v1, v2, ready: this.deps.isReady() };
  }

  /** One round: report, read the tier, decide this second's sheds. */
  private async look(): Promise<void> {
    if (this.looking || this.timer === undefined) return;
    this.looking = true;
    const { loads, config, metrics, logger } = this.deps;
    try {
      await loads.report(this.own(), REPORT_TTL_MS);
      const reports = await loads.read();
      if (this.timer === undefined) return;
      if (this.failing) logger.info('edge loads readable again; rebalancing resumes');
      this.failing = false;
      const self = this.own();
      const view = tierView(self, reports);
      metrics.tierEdges.set(view.edges);
      metrics.tierMeanStreams.set(Math.round(view.mean * 10) / 10);
      this.totals.push(view.mean * view.edges);
      if (this.totals.length > STEADY_LOOKS) this.totals.shift();
      this.pending = 0;
      if (!this.moves || !self.ready || view.edges < 2) {
        this.episodeTotal = undefined;
        return;
      }
      const fields = () => ({
        streams: self.v1 + self.v2,
        v2: self.v2,
        mean: Math.round(view.mean),
        edges: view.edges,
        tolerance: config.tolerance,
      });
      if (
        this.episodeTotal === undefined &&
        this.totals.length === STEADY_LOOKS &&
        steady(this.totals, view.mean, config.tolerance) &&
        unbalanced(self, view, config.tolerance)
      ) {
        this.episodeTotal = this.totals.reduce((a, b) => a + b, 0) / this.totals.length;
        logger.info('above the tier mean: moving v2 streams to other edges', fields());
      }
      if (this.episodeTotal === undefined) return;
      const excess = excessOver(self, this.episodeTotal / view.edges);
      if (excess === 0 || settled(self, view, config.tolerance)) {
        this.episodeTotal = undefined;
        logger.info('within the tolerance of the tier mean: rebalancing done', fields());
        return;
      }
      this.pending = Math.min(excess, config.ratePerSecond);
      this.startSteps();
    } catch (err) {
      metrics.tierEdges.set(0);
      if (!this.failing) {
        logger.warn('could not report or read edge loads; not rebalancing meanwhile', {
          error: errorText(err),
        });
      }
      this.failing = true;
      this.episodeTotal = undefined;
      this.pending = 0;
    } finally {
      this.looking = false;
    }
  }

  /** Spreads the second's sheds over it, so the clients do not all come back at once. */
  private startSteps(): void {
    const perStep = Math.max(1, Math.ceil(this.pending / SHED_STEPS));
    const step = (): void => {
      const n = Math.min(perStep, this.pending);
      const ended = n > 0 && this.deps.isReady() ? this.deps.shed(n, MIN_STREAM_AGE_MS) : 0;
      this.pending = ended < n ? 0 : this.pending - n; // none old enough left: wait for the next look
      if (this.pending === 0) {
        clearInterval(this.stepTimer);
        this.stepTimer = undefined;
      }
    };
    clearInterval(this.stepTimer);
    this.stepTimer = setInterval(step, REPORT_INTERVAL_MS / SHED_STEPS);
    this.stepTimer.unref();
    step();
  }
}
