/**
 * The embedded store's files, their format and how a master recovers from them.
 *
 *   master-state.json     the snapshot, JSON: {format: 2, seq, state, commands, nextCommandId};
 *                         replaced atomically (temp file, fsync, rename, fsync of the directory).
 *                         `seq`: the last journal record it includes. Format 1 (a master from
 *                         before the journal, which rewrote this file at every change) has no
 *                         `seq`: it is 0, and the file is read the same way.
 *   master-state.journal  the changes since the snapshot, one record per line, appended and
 *                         fdatasync'd one at a time; a change is answered only once its record is
 *                         durable. A line is `<crc32c of JSON, 8 hex digits> <JSON>\n`, where JSON
 *                         is one of
 *                           {seq, t: 'submit', command}         a command queued (its CommandRecord)
 *                           {seq, t: 'finish', id, state, message, finishedAt, change?}
 *                                                               a command's end and its effect
 *                           {seq, t: 'update', change}          a change made outside a command
 *                         `change` is a StateChange (state-change.ts): the entries it set or removed.
 *                         `seq` grows by one per record, on from the snapshot's.
 *
 * Compaction: once the journal is larger than the snapshot (and than JOURNAL_MIN_BYTES), the next
 * change is written as a new snapshot instead of a record, then the journal is emptied; also at a
 * clean stop. A crash between the two leaves records the snapshot already holds: their seq is not
 * above its seq, and they are skipped. So recovery reads at most about twice the state's size.
 *
 * Recovery: the snapshot (none: the empty state), then the journal's records in order, each
 * applied if its seq is above the snapshot's. A record is good when its line is complete, its CRC
 * matches its JSON, and its seq is one more than the record before it. A bad record at the end of
 * the file is a torn append (the master died writing it, so it was never answered): it is cut off
 * the file, and logged. A bad record with more bytes after it, or a good one that leaves a gap
 * after the snapshot, is damage from outside (an edit, a bad disk): the master refuses to start.
 * Commands are replayed as they ran: the history kept (COMMAND_HISTORY) is the same.
 */
import { crc32c } from '@node-rs/crc32';
import { FlumeError } from '../../core/errors';
import type { StateChange } from './state-change';
import type { CommandRecord, MasterState } from './types';

export const STATE_FILE = 'master-state.json';
export const JOURNAL_FILE = 'master-state.journal';
/** The journal is compacted into the snapshot once larger than this and than the snapshot. */
export const JOURNAL_MIN_BYTES = 1 << 20;

export interface SnapshotFile {
  format: 1 | 2;
  seq?: number;
  state: MasterState;
  commands: CommandRecord[];
  nextCommandId: number;
}

export type JournalEntry =
  | { t: 'submit'; command: CommandRecord }
  | { t: 'finish'; id: number; state: CommandRecord['state']; message: string; finishedAt: number; change?: StateChange }
  | { t: 'update'; change: StateChange };

export type JournalRecord = JournalEntry & { seq: number };

/** One journal line for `record`. */
export function journalLine(record: JournalRecord): string {
  const json = JSON.stringify(record);
  return `${crc32c(json).toString(16).padStart(8, '0')} ${json}\n`;
}

export interface JournalContents {
  /** The good records, in order. */
  records: JournalRecord[];
  /** Bytes of the good records: where a torn tail starts. */
  goodBytes: number;
  /** Bytes after them (a torn append); 0 when none. */
  tornBytes: number;
}

/** Reads a journal's bytes (see the header); throws FlumeError on damage that is not a torn tail. */
export function readJournal(bytes: Buffer, file: string): JournalContents {
  const records: JournalRecord[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const end = bytes.indexOf(0x0a, offset);
    const record = end < 0 ? undefined : parseLine(bytes.toString('utf8', offset, end));
    const next = records.length > 0 ? records[records.length - 1].seq + 1 : undefined;
    if (!record || (next !== undefined && record.seq !== next)) {
      if (end >= 0 && end + 1 < bytes.length) {
        throw new FlumeError(
          `the embedded store's journal ${file} is damaged at byte ${offset} (a bad record with more after it); restore the data dir from a backup`,
        );
      }
      return { records, goodBytes: offset, tornBytes: bytes.length - offset };
    }
    records.push(record);
    offset = end + 1;
  }
  return { records, goodBytes: offset, tornBytes: 0 };
}

function parseLine(line: string): JournalRecord | undefined {
  if (line.length < 10 || line[8] !== ' ') return undefined;
  const json = line.slice(9);
  if (crc32c(json) !== parseInt(line.slice(0, 8), 16)) return undefined;
  try {
    const record = JSON.parse(json) as JournalRecord;
    return Number.isInteger(record.seq) ? record : undefined;
  } catch {
    return undefined;
  }
}
