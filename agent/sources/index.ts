/** Every source, one line each: what the registry of a node is built from. */
import type { SourceDef } from '../../core/registry';
import { def as exec, periodicDef as execPeriodic, streamDef as execStream } from './exec';
import { def as http } from './http';
import { def as spooldir } from './spooldir';
import { def as stdin } from './stdin';
import { asciiDef as asciisynth, def as synth } from './synth';
import { def as syslogTcp } from './syslog-tcp';
import { def as syslogUdp } from './syslog-udp';
import { def as multitail } from './multitail';
import { def as tail } from './tail';
import { def as tailDir } from './tail-dir';
import { def as text } from './text-file';
import { def as textTcp } from './text-tcp';

export const SOURCES: SourceDef[] = [
  syslogTcp,
  syslogUdp,
  http,
  textTcp,
  tail,
  multitail,
  tailDir,
  exec,
  execStream,
  execPeriodic,
  spooldir,
  text,
  stdin,
  asciisynth,
  synth,
];
