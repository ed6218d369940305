/**
 * The Node.js flags the chat server runs with: `npm run chat` and the package's `start` script
 * put them on its command line (chat/test/node-flags.test.ts holds the scripts to this list), the
 * benchmark starts the chat with them, and an application that mounts `createChatServer` in its
 * own process may give them to its `node` too (chat/README.md, "Memory").
 *
 * `--max-semi-space-size=4` (MiB) bounds V8's young generation, where every message's short-lived
 * objects are made and die. Unbounded, it grows under a chat's load with the bytes that survive a
 * scavenge (each user's state survives one on its way to the old generation) and stays grown: to
 * 32 MiB on Node 20 and 22, 128 MiB on Node 24 (chat/test/node-flags.test.ts measures it on the
 * Node it runs on). At 1,000 users on Node 20 that was 20 to 26 KiB of resident memory per user, in
 * a process whose users' own state is 6 KiB each (issue 15: memory per user at most half of
 * Socket.IO's). A chat's objects either live as long as their connection or die within a message,
 * so a small young generation collects them as well. Measured with the bench's chat-1k-max
 * (bench/README.md, "Chat memory per user"): 4 MiB and the default both sustained the ladder's top
 * rate (8 messages/s per user) at a p99 of about 60 ms, and 1 MiB stopped a step lower; at 1,000
 * users the young generation cost 1.5 KiB per user with 4 MiB, 6.5 KiB with 8 MiB.
 */
export const CHAT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4'];
