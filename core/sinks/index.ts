/** The local sinks and sink wrappers: one line each. Fan-out and failover are syntax, not names. */
import type { SinkDef, WrapperDef } from '../registry';
import { consoleSinkDef } from './console';
import { counterSinkDef } from './counter';
import { nullSinkDef } from './null';
import { collectorDef, rollDef } from './roll';
import { textSinkDef } from './text';

export const SINKS: readonly SinkDef[] = [consoleSinkDef, textSinkDef, nullSinkDef, counterSinkDef];

export const WRAPPERS: readonly WrapperDef[] = [rollDef, collectorDef];
