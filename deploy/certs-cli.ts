/**
 * flume-certs: the operator's CA in five minutes (deploy/certs.ts does the work).
 *
 *   flume-certs init                          create the CA in ./certs (or --dir / FLUME_CERTS_DIR)
 *   flume-certs issue master m1               a master's key and certificate
 *   flume-certs issue agent web01             a node's (role agent or collector, its node name)
 *   flume-certs issue admin alice             an admin (admin or read-only)
 *   flume-certs renew agent web01             same key, new validity; then SIGHUP the process
 *   flume-certs token                         an admin bearer token file (for tls.admin_token_file)
 *   flume-certs show certs/agent-web01.crt    identity, validity, and whether ./certs's CA issued it
 */
import { Command } from 'commander';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { identityOfAltNames, type PeerRole } from '../core/tls/identity';
import { VERSION } from '../core/version';
import { CERT_DEFAULTS, caFiles, initCa, issue, renew, writeAdminToken, type IssuedFiles } from './certs';

const program = new Command('flume-certs')
  .description('Create the cluster CA and issue, renew and inspect certificates for masters, nodes and admins.')
  .version(VERSION)
  .option('--dir <dir>', 'certificate directory', process.env.FLUME_CERTS_DIR ?? CERT_DEFAULTS.dir);

function dir(): string {
  return program.opts<{ dir: string }>().dir;
}

function days(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 36_500)
    fail(`--days must be a whole number of days from 1 to 36500, not ${JSON.stringify(text)}`);
  return n;
}

function fail(message: string): never {
  console.error(`flume-certs: ${message}`);
  process.exit(2);
}

function run(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    fail((err as Error).message);
  }
}

function printUse(files: IssuedFiles): void {
  console.log(`tls.ca = ${files.ca}\ntls.cert = ${files.cert}\ntls.key = ${files.key}`);
}

interface IssueFlags {
  days: string;
  host?: string;
}

/** What issue and renew take from their flags. */
function certOptions(o: IssueFlags): { days: number; hosts?: string[] } {
  return {
    days: days(o.days),
    hosts: o.host
      ?.split(',')
      .map((h) => h.trim())
      .filter(Boolean),
  };
}

program
  .command('init')
  .description('create the CA unless the directory has one')
  .option('--days <n>', 'validity of the CA in days', String(CERT_DEFAULTS.caDays))
  .action((o: { days: string }) =>
    run(() => {
      const made = initCa(dir(), { days: days(o.days) });
      console.log(
        made
          ? `Created the CA ${caFiles(dir()).cert} (keep ${caFiles(dir()).key} off the nodes).`
          : `The CA ${caFiles(dir()).cert} already exists; left as is.`,
      );
    }),
  );

program
  .command('issue')
  .argument('<role>', 'master | agent | collector | admin | read-only')
  .argument('<name>', 'node name or admin name')
  .description('a new key and certificate for one identity (replaces any)')
  .option('--days <n>', 'validity in days', String(CERT_DEFAULTS.days))
  .option('--host <names>', 'comma-separated DNS names / IPs for clients that check hostnames (default for nodes: localhost,127.0.0.1)')
  .action((role: string, name: string, o: IssueFlags) =>
    run(() => {
      const files = issue(dir(), { role: role as PeerRole, name }, certOptions(o));
      console.log(`Issued ${files.cert} for flume://${role}/${name}. Site config:`);
      printUse(files);
    }),
  );

program
  .command('renew')
  .argument('<role>')
  .argument('<name>')
  .description('a new certificate with the same key; send SIGHUP to the process to use it')
  .option('--days <n>', 'validity in days', String(CERT_DEFAULTS.days))
  .option('--host <names>', 'as for issue')
  .action((role: string, name: string, o: IssueFlags) =>
    run(() => {
      const files = renew(dir(), { role: role as PeerRole, name }, certOptions(o));
      console.log(`Renewed ${files.cert}; send SIGHUP to the process that uses it.`);
    }),
  );

program
  .command('token')
  .description('write a new admin bearer token to <dir>/admin-token')
  .action(() =>
    run(() => {
      const file = writeAdminToken(dir(), false);
      console.log(`Wrote ${file}. Master: tls.admin_token_file = ${file}; shell: --token-file ${file}.`);
    }),
  );

program
  .command('show')
  .argument('<cert>', 'a PEM certificate')
  .description('its identity, validity and issuer check')
  .action((file: string) =>
    run(() => {
      const x = new crypto.X509Certificate(fs.readFileSync(file));
      const id = identityOfAltNames(x.subjectAltName);
      console.log(`identity: ${id ? `flume://${id.role}/${id.name}` : 'none (not a flume certificate)'}`);
      console.log(`valid:    ${x.validFrom} .. ${x.validTo}${new Date(x.validTo).getTime() < Date.now() ? '  EXPIRED' : ''}`);
      const caFile = caFiles(dir()).cert;
      if (fs.existsSync(caFile)) {
        const ca = new crypto.X509Certificate(fs.readFileSync(caFile));
        console.log(`issuer:   ${x.checkIssued(ca) && x.verify(ca.publicKey) ? `issued by ${caFile}` : `NOT issued by ${caFile}`}`);
      }
    }),
  );

program.parse(process.argv);
