/** flume-node: the composition root of a physical node. */
import { Command } from 'commander';
import { VERSION } from '../core/version';

const program = new Command('flume-node')
  .description('A physical node: runs the logical nodes (agents or collectors) its master assigns.')
  .version(VERSION)
  .option('--role <role>', 'agent | collector')
  .option('--master <hosts>', 'master host:port[,host:port...]')
  .option('-n, --name <name>', 'physical node name (default: the host name)')
  .option('--data <dir>', 'data directory for channels and positions')
  .option('--http-port <port>', 'HTTP port for /status and /metrics')
  .action(() => {
    console.error('flume-node: not built yet (see the node runtime issue)');
    process.exit(2);
  });

program.parseAsync(process.argv);
