/** The storage writers of a collector: one line each. */
import type { SinkDef } from '../../core/registry';
import { collectorSinkDef } from './collector-sink';
import { customDfsDef, escapedFileDef } from './escaped-file';

export const WRITERS: readonly SinkDef[] = [escapedFileDef, customDfsDef, collectorSinkDef];
