/**
 * TAB completion for the REPL: command names first, then what each command's argument
 * position takes (master commands after exec/submit, node names known from the master,
 * files after source). Completes the word under the cursor when it is bare (not quoted).
 *
 * Synchronous on purpose: readline handles keys that arrive while an asynchronous completer
 * runs as plain input (a pasted or fast TAB TAB), and a master that does not answer would
 * freeze the line. Node names come from a cache the REPL refreshes in the background.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CompletionKind, SHELL_COMMANDS, findShellCommand } from './commands';
import { MASTER_COMMANDS } from './master-commands';
import { lastWord, tokenize } from './tokenizer';

/** readline's completion answer: candidates, and the text they replace. */
export type Completion = [string[], string];

/** What `line` (the text left of the cursor) can be completed with. Never throws. */
export function complete(line: string, nodeNames: () => readonly string[]): Completion {
  const { start, text } = lastWord(line);
  if (/["'#]/.test(text)) return [[], text];
  let before: string[];
  try {
    before = tokenize(line.slice(0, start));
  } catch {
    return [[], text]; // inside an open quote
  }
  const kind: CompletionKind =
    before.length === 0 ? 'command' : (findShellCommand(before[0])?.completes(before.length - 1, before.slice(1)) ?? 'none');
  switch (kind) {
    case 'command':
      return [
        withSpace(
          matching(
            text,
            SHELL_COMMANDS.map((c) => c.name),
          ),
        ),
        text,
      ];
    case 'master-command':
      return [
        withSpace(
          matching(
            text,
            MASTER_COMMANDS.map((c) => c.name),
          ),
        ),
        text,
      ];
    case 'any-command':
      return [
        withSpace(
          matching(
            text,
            [...SHELL_COMMANDS, ...MASTER_COMMANDS].map((c) => c.name),
          ),
        ),
        text,
      ];
    case 'node':
      return [withSpace(matching(text, nodeNames())), text];
    case 'file':
      return [files(text), text];
    case 'none':
      return [[], text];
  }
}

/** Names starting with `prefix`, sorted; case-insensitive when no name matches with case. */
function matching(prefix: string, names: readonly string[]): string[] {
  const exact = names.filter((n) => n.startsWith(prefix));
  const lower = prefix.toLowerCase();
  return (exact.length > 0 ? exact : names.filter((n) => n.toLowerCase().startsWith(lower))).sort();
}

/** A lone candidate gets a trailing space, so the next TAB starts the next word. */
function withSpace(names: string[]): string[] {
  return names.length === 1 ? [`${names[0]} `] : names;
}

function files(prefix: string): string[] {
  const dir = prefix.endsWith('/') ? prefix : path.dirname(prefix);
  const base = prefix.endsWith('/') ? '' : path.basename(prefix);
  const shownDir = prefix.includes('/') ? (prefix.endsWith('/') ? prefix : prefix.slice(0, prefix.lastIndexOf('/') + 1)) : '';
  try {
    const entries = fs.readdirSync(dir === '' ? '.' : dir, { withFileTypes: true });
    return entries
      .filter((e) => e.name.startsWith(base) && (base.startsWith('.') || !e.name.startsWith('.')))
      .map((e) => shownDir + e.name + (e.isDirectory() ? '/' : ''))
      .sort();
  } catch {
    return [];
  }
}
