/**
 * The protocol core: pure TypeScript with no I/O and no `node:*` import, usable on any runtime and
 * testable by feeding bytes.
 */
export * from './close.js';
export * from './connection.js';
export * from './errors.js';
export * from './frame.js';
export * from './handshake.js';
export * from './mask.js';
export * from './parser.js';
export * from './prepared.js';
export * from './utf8.js';
export * from './writer.js';
