/**
 * The protocol's public surface: what the edge, the ingest and the cluster seams agree on. Helpers
 * used only inside this package (frame and JSON pieces, the envelope header) stay in their modules.
 */
export {
  MAX_SHORT_STRING_BYTES,
  MSG_BINDINGS_NOT_ARRAY,
  MSG_BINDING_FIELDS,
  MSG_ONLY_BINDINGS_KEY,
  bindingKey,
  parseBindingKey,
  parseBindingsQuery,
  type Binding,
  type BindingLimits,
  type BindingsQueryResult,
} from './bindings.js';
export { TopicMatcher, topicMatches } from './topic-matcher.js';
export {
  READY_FRAME,
  errorFrame,
  gapFrame,
  pingData,
  pingFrame,
  retryField,
  sseFrameWithId,
  v2ReadyData,
  withEventId,
  type V2EventKind,
} from './sse.js';
export {
  ORIGIN_CURSOR,
  SEQ_PER_MS,
  cursorBefore,
  cursorOfStreamId,
  formatCursor,
  isCursor,
  laterOf,
  nextPositions,
  parseCursor,
  predecessor,
  streamIdOf,
  type Cursor,
  type Position,
} from './cursor.js';
export {
  ccKeysOf,
  renderMessageEnvelope,
  renderMessageFrame,
  type Delivery,
  type MessageData,
} from './message.js';
export { DEFAULT_KEY_PREFIX, names, type HistoryKeys, type Names, type NamesOptions } from './names.js';
export { decodeEnvelope, encodeEnvelope, envelopeHeader, type Envelope } from './envelope.js';
export { BindError, bindTimeoutError, exchangeNotFoundMessage, type BindFailureCode } from './control.js';
