export { createEdgeMetrics } from './metrics.js';
export { createEdge, type Edge, type EdgeDeps, type EdgeStats } from './edge.js';
export { loadEdgeConfig, ENV_NAMES, type EdgeConfig } from './config.js';
export { INSPECTOR_DIR } from './inspector.js';
export { CLIENT_SCRIPT_FILE, CLIENT_SCRIPT_PATH } from './client-script.js';
