/** The command line's help text and its failure convention (exit code 2 for usage errors). */

export const USAGE = `Usage: rfc6455 [echo] [--port N] [--host H] [--no-deflate] [--cert FILE --key FILE]
       rfc6455 connect URL [-H 'Name: value']... [-s PROTOCOL]... [--origin O]
                           [--no-deflate] [--ca FILE] [--insecure]

Commands:
  echo             an echo server (the default when no command is given)
  connect URL      a client, like wscat: lines typed on stdin are sent as text messages,
                   what arrives is printed (binary as hex, with its length)

Options (echo):
  -p, --port N     port to listen on (default: $PORT, else 9001; 0 picks a free one)
      --host H     address to listen on (default: $HOST, else every interface)
      --no-deflate decline permessage-deflate (offered by default)
      --cert FILE  serve wss:// with this certificate (PEM), HTTP/1.1 and HTTP/2 (RFC 8441)
      --key FILE   on one port; the certificate's private key (PEM)

Options (connect):
  -H, --header     an extra request header, 'Name: value' (repeatable)
  -s, --subprotocol  a subprotocol to offer (repeatable)
      --origin O   the Origin header
      --no-deflate do not offer permessage-deflate
      --ca FILE    trust the CA certificate(s) in FILE (PEM) for wss:
      --insecure   do not verify the server's certificate (wss:)
  connect exits 0 after a clean close, 1 otherwise; end of input (Ctrl-D) closes with 1000.

  -h, --help       print this help
`;

/** A usage error: the message on stderr, exit code 2. */
export function usageError(command: string, message: string): never {
  process.stderr.write(`rfc6455 ${command}: ${message}\n`);
  process.exit(2);
}
