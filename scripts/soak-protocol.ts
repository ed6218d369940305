/** The IPC messages between scripts/soak.ts (parent, clients) and scripts/soak-server.ts (child). */

export interface ServerStats {
  /** wss.clients.size: open WebSocket connections. */
  readonly connections: number;
  /** Messages the echo handler received. */
  readonly messages: number;
  /** Errors reported through onError. */
  readonly handlerErrors: number;
}

export interface MemorySample extends ServerStats {
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly external: number;
  readonly arrayBuffers: number;
  readonly rss: number;
}

export type ToServer =
  | { readonly type: 'measure'; readonly id: number }
  | { readonly type: 'stats'; readonly id: number }
  | { readonly type: 'exit' };

export type ToParent =
  | { readonly type: 'ready'; readonly port: number; readonly pid: number }
  | { readonly type: 'measure'; readonly id: number; readonly sample: MemorySample }
  | { readonly type: 'stats'; readonly id: number; readonly stats: ServerStats };
