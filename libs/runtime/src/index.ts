export * from './errors.js';
export * from './logger.js';
export * from './env.js';
export * from './ops-server.js';
export * from './common-config.js';
export * from './redis-sentinels.js';
export * from './lifecycle.js';
