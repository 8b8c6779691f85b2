export { createIngest, resyncIntervalMs, type Ingest, type IngestDeps } from './ingest.js';
export { loadIngestConfig, ENV_NAMES, DEFAULT_AMQP_URL, type IngestConfig } from './config.js';
export { redactAmqpUrl } from './amqp-url.js';
export { Membership, type MembershipOptions } from './membership.js';
export { ActiveBindings } from './active-bindings.js';
