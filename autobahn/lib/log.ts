/** Output of the Autobahn runners: progress on stdout, a fatal problem on stderr with exit 2. */

export function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Exit status 2: the run itself broke (no report, bad option), as opposed to 1, cases failed. */
export function die(message: string): never {
  process.stderr.write(`autobahn: ${message}\n`);
  process.exit(2);
}
