/** flume-master: the composition root of a master process. */
import { Command } from 'commander';
import { VERSION } from '../core/version';

const program = new Command('flume-master')
  .description('The master: holds every node\'s configuration and tells each node what to run.')
  .version(VERSION);

program
  .command('start')
  .description('start a master')
  .option('--port <port>', 'gRPC port for nodes and shells', '35873')
  .option('--http-port <port>', 'HTTP port for /status, /metrics and the status page', '35871')
  .option('--data <dir>', 'data directory of the embedded config store')
  .option('--zk <connect>', 'ZooKeeper connect string host:port,...[/chroot]')
  .option('--id <n>', 'master id')
  .action(() => {
    console.error('flume-master start: not built yet (see the master issue)');
    process.exit(2);
  });

program.parseAsync(process.argv);
