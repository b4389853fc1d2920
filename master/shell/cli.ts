/** flume-shell: the composition root of the admin shell. */
import { Command } from 'commander';
import { VERSION } from '../../core/version';

const program = new Command('flume-shell')
  .description('The cluster admin shell.')
  .version(VERSION)
  .option('-c, --connect <host:port>', 'master to connect to')
  .option('-e, --execute <command>', 'run one command and exit with its status')
  .option('-s, --script <file>', 'run a script')
  .option('-q, --quiet', 'print only command output')
  .action(() => {
    console.error('flume-shell: not built yet (see the master issue)');
    process.exit(2);
  });

program.parseAsync(process.argv);
