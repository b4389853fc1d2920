/**
 * Credentials of a client that is a person rather than a cluster process (flume-shell, scripts):
 * the cluster CA to check the server with, and either a certificate (admin or read-only) or the
 * admin bearer token (token.ts), sent as `authorization: Bearer <token>` metadata on each call.
 * The server must be a `master` from the CA (its hostname is not checked, as everywhere).
 */
import * as grpc from '@grpc/grpc-js';
import * as fs from 'node:fs';
import { serverRoleCheck, TlsConfigError, TlsContext } from './context';
import { MASTER_ROLES, type PeerRole } from './identity';

export interface ClientTlsFiles {
  ca: string;
  cert?: string;
  key?: string;
  /** A file holding the admin token (instead of a certificate). */
  tokenFile?: string;
}

function readText(file: string, what: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new TlsConfigError(file, `cannot read the ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** grpc-js channel credentials for a person's client of a master (or of `expect`). */
export function personCredentials(files: ClientTlsFiles, expect: readonly PeerRole[] = MASTER_ROLES): grpc.ChannelCredentials {
  if (files.cert !== undefined || files.key !== undefined) {
    if (files.cert === undefined || files.key === undefined)
      throw new TlsConfigError(files.cert ?? files.key, 'give both a certificate and its key');
    return TlsContext.load({ ca: files.ca, cert: files.cert, key: files.key }).channelCredentials(expect);
  }
  const ca = Buffer.from(readText(files.ca, 'CA certificate'));
  const ssl = grpc.credentials.createSsl(ca, null, null, { checkServerIdentity: serverRoleCheck(expect) });
  if (files.tokenFile === undefined) return ssl;
  const header = `Bearer ${readText(files.tokenFile, 'admin token file')}`;
  const perCall = grpc.credentials.createFromMetadataGenerator((_params, callback) => {
    const md = new grpc.Metadata();
    md.set('authorization', header);
    callback(null, md);
  });
  return grpc.credentials.combineChannelCredentials(ssl, perCall);
}
