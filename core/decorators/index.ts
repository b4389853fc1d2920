/** Every decorator: one line each. */
import type { DecoratorDef } from '../registry';
import { batchDef, unbatchDef } from './batch';
import { chokeDef, delayDef } from './delay';
import { exDateDef } from './exdate';
import { formatDef } from './format-template';
import { gunzipDef, gzipDef } from './gzip';
import { maskDef, selectDef } from './mask';
import { regexAllDef, regexDef, splitDef } from './regex';
import { intervalSamplerDef, probSamplerDef, reservoirSamplerDef } from './samplers';
import { valueDef } from './value';

export const DECORATORS: readonly DecoratorDef[] = [
  batchDef,
  unbatchDef,
  gzipDef,
  gunzipDef,
  valueDef,
  maskDef,
  selectDef,
  formatDef,
  regexDef,
  regexAllDef,
  splitDef,
  exDateDef,
  intervalSamplerDef,
  probSamplerDef,
  reservoirSamplerDef,
  delayDef,
  chokeDef,
];
