/**
 * The admin bearer token: a secret an operator may use instead of an admin certificate in
 * flume-shell and the HTTP pages (`Authorization: Bearer <token>`, over TLS only).
 *
 * The master reads it from the file `tls.admin_token_file` (one line; flume-certs token writes
 * one) at start and at every SIGHUP. It grants the `admin` role under the name `token`. Compared
 * in constant time (SHA-256 of both sides, then timingSafeEqual).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import type { Logger } from '../logger';
import { TlsConfigError } from './context';
import { PeerRefusedError, type PeerIdentity } from './identity';

const TOKEN_IDENTITY: PeerIdentity = { role: 'admin', name: 'token' };
const MIN_TOKEN_LENGTH = 16;

function digest(text: string): Buffer {
  return crypto.createHash('sha256').update(text).digest();
}

function readToken(file: string): Buffer {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new TlsConfigError(
      file,
      `cannot read the admin token file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  if (text.length < MIN_TOKEN_LENGTH)
    throw new TlsConfigError(file, `the admin token in ${file} is shorter than ${MIN_TOKEN_LENGTH} characters`);
  return digest(text);
}

export class AdminToken {
  private hash: Buffer;

  constructor(readonly file: string) {
    this.hash = readToken(file);
  }

  /** Re-reads the file at every SIGHUP (register with the process's reload registry); keeps the old token if the new one is unusable. */
  reloadHandler(logger: Logger): { keys: readonly never[]; reload(): void } {
    return {
      keys: [],
      reload: () => {
        this.hash = readToken(this.file);
        logger.info('Reloaded the admin token.', { file: this.file });
      },
    };
  }

  /** The identity an `Authorization` header value proves: admin for the right token. */
  check(authorization: string | undefined): PeerIdentity | PeerRefusedError {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!m) return new PeerRefusedError('no_certificate', 'no client certificate and no bearer token');
    return crypto.timingSafeEqual(digest(m[1]), this.hash)
      ? TOKEN_IDENTITY
      : new PeerRefusedError('bad_token', "the bearer token is not this cluster's admin token");
  }
}

/** A new random token (URL-safe base64, 256 bits). */
export function newAdminToken(): string {
  return crypto.randomBytes(32).toString('base64url');
}
