/**
 * rfc6455/hub: topics, encode-once broadcast, honest publish results and slow-consumer policies
 * (issue 11), on the connection's public API. The vocabulary it shares with connections
 * (CloseResult, ReadyState, DeflateAgreement, BinaryData, PreparedFrame) is exported by `rfc6455`.
 *
 * @module rfc6455/hub
 */
export { Hub } from './hub.js';
export {
  InProcessBroker,
  InProcessBus,
  type Appended,
  type Broker,
  type BrokerAppendOptions,
  type BrokerMessage,
  type BrokerNode,
  type BrokerState,
  type HistoryOptions,
  type HistoryPage,
  type StreamPosition,
  type StoredAppend,
  type StreamStore,
} from './broker.js';
export { type HubOptions } from './options.js';
export { type Listener } from './events.js';
export {
  type AppendOptions,
  type DropReason,
  type HubBrokerEvent,
  type HubLostEvent,
  type HubUnpublishedEvent,
  type RecoverOptions,
  type RecoveryResult,
  type HubConnection,
  type HubDropEvent,
  type HubEvents,
  type HubEvictEvent,
  type HubSendOptions,
  type HubSendResult,
  type OverflowPolicy,
  type PublishOptions,
  type PublishResult,
  type TopicOptions,
  type TopicStats,
} from './types.js';
