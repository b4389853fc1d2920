/**
 * The one place the master makes gRPC server credentials. Today: insecure, or mutual TLS from
 * PEM files (the server's certificate and key, and the CA whose certificates clients must
 * present). The cluster CA and peer identities (core/tls) plug in here and nowhere else.
 */
import * as grpc from '@grpc/grpc-js';
import * as fs from 'node:fs';
import { serverCredentialsFor, TlsContext } from '../core/tls';

/** PEM files of one process's TLS identity and of the CA it trusts. */
export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
}

export function serverCredentials(tls: TlsFiles | TlsContext | undefined): grpc.ServerCredentials {
  if (tls instanceof TlsContext) return serverCredentialsFor(tls);
  if (!tls) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(
    fs.readFileSync(tls.ca),
    [{ cert_chain: fs.readFileSync(tls.cert), private_key: fs.readFileSync(tls.key) }],
    true,
  );
}
