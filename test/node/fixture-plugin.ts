/**
 * Test-only components, loaded into the real flume-node binary with `--plugin`:
 *   fixtureLines(file)          reads a file once, one event per line (finite; a stand-in for text(file))
 *   fixtureEndless(countFile)   puts e-0, e-1, ... until closed, then writes how many it put to countFile
 */
import * as fs from 'node:fs';
import type { Source, SourceOutput } from '../../core/component';
import { BatchBuilder, Priority } from '../../core/event';
import type { ComponentDef } from '../../core/registry';

const fixtureLines: ComponentDef = {
  kind: 'source',
  name: 'fixtureLines',
  doc: 'test only: reads a file once, one event per line',
  args: [{ name: 'file', type: 'string', required: true, doc: 'file' }],
  create: (args, ctx): Source => {
    let finish!: () => void;
    const done = new Promise<void>((r) => (finish = r));
    let loop: Promise<void> = Promise.resolve();
    return {
      done,
      async open(out: SourceOutput) {
        const text = fs.readFileSync(args.string('file'));
        const b = new BatchBuilder(out.origin);
        loop = (async () => {
          let start = 0;
          while (start < text.length) {
            let end = text.indexOf(0x0a, start);
            if (end < 0) end = text.length;
            b.append(text.subarray(start, end), Date.now(), Priority.INFO, ctx.host);
            start = end + 1;
            if (b.count === 100) await out.put(b.finish(out.nextSeq()));
          }
          if (b.count > 0) await out.put(b.finish(out.nextSeq()));
          finish();
        })();
      },
      async close() {
        await loop;
      },
    };
  },
};

const fixtureEndless: ComponentDef = {
  kind: 'source',
  name: 'fixtureEndless',
  doc: 'test only: endless numbered events',
  args: [{ name: 'countFile', type: 'string', required: true, doc: 'where to write the count on close' }],
  create: (args, ctx): Source => {
    let stop = false;
    let put = 0;
    let loop: Promise<void> = Promise.resolve();
    return {
      async open(out: SourceOutput) {
        const b = new BatchBuilder(out.origin);
        loop = (async () => {
          while (!stop) {
            for (let k = 0; k < 50; k++) b.append(Buffer.from(`e-${put + k}`), Date.now(), Priority.INFO, ctx.host);
            await out.put(b.finish(out.nextSeq()));
            put += 50;
            await new Promise((r) => setTimeout(r, 1));
          }
        })();
      },
      async close() {
        stop = true;
        await loop;
        fs.writeFileSync(args.string('countFile'), String(put));
      },
    };
  },
};

export const COMPONENTS: ComponentDef[] = [fixtureLines, fixtureEndless];
