import { authConnectScenario } from './auth-connect.js';
import { bindingScaleScenario } from './binding-scale.js';
import { broadcastScenario } from './broadcast.js';
import { connectScenario } from './connect.js';
import { deliveryCostScenario } from './delivery-cost.js';
import { ingestThroughputScenario } from './ingest-throughput.js';
import { latencyScenario } from './latency.js';
import { memoryScenario } from './memory.js';
import { memoryFleetScenario } from './memory-fleet.js';
import { networkDropsScenario } from './network-drops.js';
import { reconnectStormScenario } from './reconnect-storm.js';
import { rollingRestartScenario } from './rolling-restart.js';
import { scaleUpScenario } from './scale-up.js';
import type { AnyScenario } from './scenario.js';

/** Every scenario, in the order a full run takes them. */
export const SCENARIOS: readonly AnyScenario[] = [
  broadcastScenario,
  memoryScenario,
  latencyScenario,
  connectScenario,
  bindingScaleScenario,
  ingestThroughputScenario,
  reconnectStormScenario,
  rollingRestartScenario,
  authConnectScenario,
  networkDropsScenario,
  scaleUpScenario,
  deliveryCostScenario,
  memoryFleetScenario,
] as AnyScenario[];
