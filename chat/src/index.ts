/**
 * @rfc6455/chat: the chat server of seed 004 on rfc6455 and its hub (chat/README.md).
 * `createChatServer(options)` makes one; mount its `handleRequest` and `handleUpgrade` in your own
 * HTTP server, or `listen()`.
 */

export { createChatServer, type ChatServer } from './server.js';
export { CHAT_NODE_FLAGS } from './node-flags.js';
export { CHAT_LIMITS, parseCommandLine, resolveChatOptions, USAGE, type ChatOptions, type CommandLine } from './options.js';
export { MemoryPresence, MemoryPresenceStore, type LeaveOptions, type MemoryPresenceOptions, type Presence, type PresenceChange, type PresenceOverview } from './presence.js';
export { SqliteBus, SqliteStreams } from './sqlite-streams.js';
export { type StatsSnapshot } from './stats.js';
export { type LogLevel } from './log.js';
export type { Command, Envelope, ErrorCode, Member, ServerType, ClientType } from './protocol.js';
