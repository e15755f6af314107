/**
 * The `meshwork` command line: thin wrappers that parse options, call the library and print.
 * Each command lives in its own file and registers itself here.
 */
import { Command, CommanderError } from 'commander';
import { registerServe } from './serve.js';
import { registerSim } from './sim.js';

const program = new Command()
  .name('meshwork')
  .description('A mesh network that runs in browsers, with server nodes and a simulator.')
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

registerServe(program);
registerSim(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Commander already printed its one-line message (or the help text).
    process.exit(err.exitCode);
  }
  console.error(`meshwork: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
