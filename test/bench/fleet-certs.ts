/**
 * A certificate per simulated node of the fleet bench, issued in milliseconds.
 *
 * The master binds a node's status to the identity in its certificate (`flume://agent/<name>`),
 * so N simulated nodes need N certificates. `openssl` takes ~20 ms a certificate (a process
 * each), minutes for 10,000. Instead: one template certificate made by flume-certs' own code
 * (deploy/certs.ts `issue`, the run's CA of test/harness/tls.ts) for the name `sim000000`, then
 * for node i the template's to-be-signed part with that name replaced by `sim<i, 6 digits>` (same
 * length, so no DER length changes), a serial ending in i, and a fresh ECDSA-SHA256 signature by
 * the CA key. Every node shares the template's key pair; each certificate is real X.509 that the
 * master verifies against the CA in its TLS handshake like any other.
 *
 * The certificates are written once per fleet size to `<CA dir>/fleet-<N>.pem` (concatenated in
 * node order) and reused by the next scenario of the same run; the CA dir goes at exit.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TestCerts } from '../harness/tls';

const WIDTH = 6;
const TEMPLATE = `sim${'0'.repeat(WIDTH)}`;

/** The physical node name of simulated node i (fixed width: certificates are patched in place). */
export function simName(i: number): string {
  return `sim${String(i).padStart(WIDTH, '0')}`;
}

export interface FleetCerts {
  /** Files: the CA's certificate, the key every node shares, every node's certificate in order. */
  ca: string;
  key: string;
  certsFile: string;
}

/** [offset of content, content length] of the DER element at `at`. */
function der(buf: Buffer, at: number): [number, number] {
  const first = buf[at + 1];
  if (first < 0x80) return [at + 2, first];
  const n = first & 0x7f;
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + buf[at + 2 + i];
  return [at + 2 + n, len];
}

function header(tag: number, len: number): Buffer {
  if (len < 0x80) return Buffer.from([tag, len]);
  if (len < 0x100) return Buffer.from([tag, 0x81, len]);
  return Buffer.from([tag, 0x82, len >> 8, len & 0xff]);
}

function toPem(body: Buffer): string {
  const b64 = body.toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END CERTIFICATE-----\n`;
}

/** Certificates for simName(0 .. count-1) under the run's CA; made once per count and run. */
export function fleetCerts(count: number): FleetCerts {
  const certs = TestCerts.shared();
  const template = certs.files('agent', TEMPLATE);
  const certsFile = path.join(certs.dir, `fleet-${count}.pem`);
  const out: FleetCerts = { ca: template.ca, key: template.key, certsFile };
  if (fs.existsSync(certsFile)) return out;

  const cert = new crypto.X509Certificate(fs.readFileSync(template.cert)).raw;
  const [body] = der(cert, 0);
  const [tbsBody, tbsLen] = der(cert, body);
  const tbsEnd = tbsBody + tbsLen;
  const [algBody, algLen] = der(cert, tbsEnd);
  const alg = cert.subarray(tbsEnd, algBody + algLen);
  // TBSCertificate: [0] version, then the serial INTEGER.
  const [, versionLen] = der(cert, tbsBody);
  const [serialBody, serialLen] = der(cert, tbsBody + 2 + versionLen);
  if (cert[tbsBody + 2 + versionLen] !== 0x02 || serialLen < 5) throw new Error('unexpected template certificate layout');
  const name = Buffer.from(TEMPLATE);
  const places: number[] = [];
  for (let at = cert.indexOf(name, tbsBody); at >= 0 && at < tbsEnd; at = cert.indexOf(name, at + 1)) places.push(at - body);
  if (places.length === 0) throw new Error('the template certificate does not name its node');
  const caKey = crypto.createPrivateKey(fs.readFileSync(path.join(certs.dir, 'ca.key')));

  const pems: string[] = [];
  for (let i = 0; i < count; i++) {
    const tbs = Buffer.from(cert.subarray(body, tbsEnd));
    const id = Buffer.from(simName(i));
    for (const p of places) id.copy(tbs, p);
    tbs.writeUInt32BE(i, serialBody + serialLen - 4 - body);
    const sig = crypto.sign('sha256', tbs, caKey);
    const bits = Buffer.concat([header(0x03, sig.length + 1), Buffer.from([0]), sig]);
    const inner = Buffer.concat([tbs, alg, bits]);
    pems.push(toPem(Buffer.concat([header(0x30, inner.length), inner])));
  }
  fs.writeFileSync(`${certsFile}.tmp`, pems.join(''));
  fs.renameSync(`${certsFile}.tmp`, certsFile);
  return out;
}

/** The certificates of nodes first .. first+count-1 from a file fleetCerts wrote. */
export function readFleetCerts(certsFile: string, first: number, count: number): string[] {
  const all = fs.readFileSync(certsFile, 'utf8').split(/(?<=-----END CERTIFICATE-----\n)/);
  return all.slice(first, first + count);
}
