/**
 * rfc6455/hub: topics, encode-once broadcast, honest publish results and slow-consumer policies
 * (issue 11), on the connection's public API.
 */
export { Hub } from './hub.js';
export { InProcessBroker, InProcessBus, type Broker, type BrokerMessage } from './broker.js';
export { HUB_DEFAULTS, type HubOptions } from './options.js';
export type { Listener } from './events.js';
export type {
  DropReason,
  HubCloseResult,
  HubConnection,
  HubData,
  HubDeflateParameters,
  HubDropEvent,
  HubEvents,
  HubEvictEvent,
  OverflowPolicy,
  PublishOptions,
  PublishResult,
  SendOptions,
  SendResult,
  TopicOptions,
  TopicStats,
} from './types.js';
export { prepareFrame, type PreparedFrame } from '../protocol/prepared.js';
