/**
 * Real certificates for tests: one CA per test process (made with flume-certs' code, i.e.
 * openssl), certificates issued on first use per identity, all in a temp dir removed at exit.
 *
 *   const certs = TestCerts.shared();
 *   spawnNode(..., { env: certs.env('agent', 'web01') });      // FLUME_TLS_CA / _CERT / _KEY
 *   const tls = certs.context('collector', 'c1');               // in-process servers and clients
 *
 * `TestCerts.foreign()` is a second, unrelated CA (for "a certificate from another CA" tests).
 * Set FLUME_TEST_INSECURE=1 to run the suite without TLS (`insecureEnv()` then also applies).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TlsContext } from '../../core/tls';
import type { PeerRole } from '../../core/tls';
import { identityFiles, initCa, issue, type IssuedFiles, type IssueOptions, tlsEnv, writeAdminToken } from '../../deploy/certs';

const made: string[] = [];
process.on('exit', () => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});

export class TestCerts {
  private static sharedCerts: TestCerts | undefined;
  private static foreignCerts: TestCerts | undefined;
  private readonly issued = new Map<string, IssuedFiles>();

  constructor(readonly dir: string) {
    initCa(dir, { name: `flume test CA ${path.basename(dir)}` });
  }

  /** A fresh CA in a new temp dir. */
  static create(label = 'certs'): TestCerts {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `flume-${label}-`));
    made.push(dir);
    return new TestCerts(dir);
  }

  /** This test process's cluster CA. */
  static shared(): TestCerts {
    return (TestCerts.sharedCerts ??= TestCerts.create('ca'));
  }

  /** Another CA, that the cluster does not trust. */
  static foreign(): TestCerts {
    return (TestCerts.foreignCerts ??= TestCerts.create('foreign-ca'));
  }

  /** Files for `role`/`name`, issued on first use (or again, with `options`, when given). */
  files(role: PeerRole, name: string, options?: IssueOptions): IssuedFiles {
    const key = `${role}/${name}`;
    let files = options ? undefined : this.issued.get(key);
    if (!files) {
      files = issue(this.dir, { role, name }, options);
      if (!options) this.issued.set(key, files);
    }
    return files;
  }

  /** Files under another name (for certificates that must not replace the cached one). */
  filesAs(label: string, role: PeerRole, name: string, options?: IssueOptions): IssuedFiles {
    const sub = path.join(this.dir, label);
    fs.mkdirSync(sub, { recursive: true });
    for (const f of ['ca.crt', 'ca.key']) if (!fs.existsSync(path.join(sub, f))) fs.copyFileSync(path.join(this.dir, f), path.join(sub, f));
    return issue(sub, { role, name }, options);
  }

  /** FLUME_TLS_* for a process of this identity (empty with FLUME_TEST_INSECURE=1: see insecureEnv). */
  env(role: PeerRole, name: string): Record<string, string> {
    if (testsInsecure()) return insecureEnv();
    return tlsEnv(this.files(role, name));
  }

  /** A TlsContext for in-process servers and clients (undefined with FLUME_TEST_INSECURE=1). */
  context(role: PeerRole, name: string): TlsContext | undefined {
    if (testsInsecure()) return undefined;
    return TlsContext.load(this.files(role, name));
  }

  /** The admin token file of this CA's cluster. */
  adminToken(): { file: string; token: string } {
    const file = writeAdminToken(this.dir);
    return { file, token: fs.readFileSync(file, 'utf8').trim() };
  }

  expectedFiles(role: PeerRole, name: string): IssuedFiles {
    return identityFiles(this.dir, { role, name });
  }
}

/** Whether this run is the plaintext variant of the suite. */
export function testsInsecure(): boolean {
  return process.env.FLUME_TEST_INSECURE === '1';
}

/** The environment of a process run without TLS on purpose. */
function insecureEnv(): Record<string, string> {
  return { FLUME_TLS_MODE: 'insecure' };
}
