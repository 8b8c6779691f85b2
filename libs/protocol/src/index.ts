export * from './bindings.js';
export * from './topic-matcher.js';
export * from './sse.js';
export * from './message.js';
export * from './names.js';
export * from './envelope.js';
export * from './control.js';
