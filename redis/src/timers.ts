/**
 * The network's clock: the timers of the connection state machine (attempts, backoff, heartbeat,
 * command deadlines) and of presence leases, taken from the global object when this module loads.
 *
 * Why not the globals at call time: presence's grace periods are the application's clock, and a
 * test (the chat's Presence contract) moves them on a fake clock (vi.useFakeTimers) while the
 * sockets to a real Redis stay real. Had the connection's deadlines been on that clock, moving it
 * by ten seconds would expire every command in flight and end a healthy session. So deadlines and
 * leases stay real, and only grace timers follow the global setTimeout.
 */

export const realTimers = {
  setTimeout: globalThis.setTimeout.bind(globalThis),
  clearTimeout: globalThis.clearTimeout.bind(globalThis),
  setInterval: globalThis.setInterval.bind(globalThis),
  clearInterval: globalThis.clearInterval.bind(globalThis),
} as const;
