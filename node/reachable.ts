/**
 * Whether a TCP connection to `host:port` opens within `timeoutMs` (closed at once, nothing
 * sent). node/master-client asks it of a master whose first answer is late while the connection to
 * it is still being set up: a master whose host answers is busy (its TLS handshakes queue behind
 * others') and worth waiting for; one whose host does not (down, or cut off) is not.
 */
import * as net from 'node:net';
import { splitHostPort } from '../core/ports';

export function reachable(address: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(splitHostPort(address));
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
