export { createEdgeMetrics } from './metrics.js';
export { createEdge, type Edge, type EdgeDeps, type EdgeStats } from './edge.js';
export { loadEdgeConfig, ENV_NAMES, type EdgeConfig } from './config.js';
export { SHUTTING_DOWN_MESSAGE } from './connect-handler.js';
export { idleMessage } from './timer-wheel.js';
export { CLOSE_REASONS, REJECT_REASONS, type CloseReason, type RejectReason } from './metrics.js';
