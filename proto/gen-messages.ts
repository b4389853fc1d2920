/**
 * Writes proto/messages.ts from proto/flume.proto: one TypeScript interface per message, in the
 * shape proto/index.ts decodes it to, and one name-to-number table per enum. The .proto is the
 * one source of the control-plane shapes; test/proto-messages.test.ts fails when the generated
 * file is out of date.
 *
 *     npx tsc -p . && node dist/proto/gen-messages.js [--check]
 *
 * The mapping follows proto/index.ts's conversion options (`longs: Number, enums: Number,
 * bytes: Buffer, defaults: true`): every 64-bit integer is a number, an enum field is its number,
 * bytes are a Buffer, a map is a Record, a repeated field an array, an unset message field null
 * and a member of a oneof (or a proto3 `optional` field) absent unless set.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';

const SCALARS: Record<string, string> = {
  double: 'number',
  float: 'number',
  int32: 'number',
  uint32: 'number',
  sint32: 'number',
  fixed32: 'number',
  sfixed32: 'number',
  int64: 'number',
  uint64: 'number',
  sint64: 'number',
  fixed64: 'number',
  sfixed64: 'number',
  bool: 'boolean',
  string: 'string',
  bytes: 'Buffer',
};

/** The TypeScript name of a message (`Wire` + its name, nested names joined). */
function interfaceName(type: protobuf.Type): string {
  return `Wire${qualifiedName(type)}`;
}

/** The name of an enum's table: `NodeState` -> `NodeStateCode`. */
function enumTableName(e: protobuf.Enum): string {
  return `${qualifiedName(e)}Code`;
}

function qualifiedName(obj: protobuf.ReflectionObject): string {
  // A message or enum nested in a message is named after both: Outer.Inner -> OuterInner.
  const outer = obj.parent;
  return outer instanceof protobuf.Type ? qualifiedName(outer) + obj.name : obj.name;
}

function docComment(text: string | null | undefined, indent: string): string[] {
  if (!text) return [];
  const lines = text.split('\n').map((l) => l.trimEnd());
  if (lines.length === 1) return [`${indent}/** ${lines[0]} */`];
  return [`${indent}/**`, ...lines.map((l) => (l ? `${indent} * ${l}` : `${indent} *`)), `${indent} */`];
}

function valueType(field: protobuf.Field): string {
  const resolved = field.resolve().resolvedType;
  if (resolved instanceof protobuf.Type) return interfaceName(resolved);
  if (resolved instanceof protobuf.Enum) return 'number';
  const scalar = SCALARS[field.type];
  if (!scalar) throw new Error(`${field.fullName}: no TypeScript type for ${field.type}`);
  return scalar;
}

function fieldLines(field: protobuf.Field): string[] {
  const resolved = field.resolve().resolvedType;
  const enumNote = resolved instanceof protobuf.Enum ? `${resolved.fullName.slice(1)}, see ${enumTableName(resolved)}` : '';
  const comment = [field.comment, enumNote].filter(Boolean).join('\n');
  let type = valueType(field);
  let optional = false;
  if (field instanceof protobuf.MapField) type = `Record<string, ${type}>`;
  else if (field.repeated) type = `${type}[]`;
  else if (field.partOf) optional = true;
  else if (resolved instanceof protobuf.Type) type = `${type} | null`;
  return [...docComment(comment, '  '), `  ${field.name}${optional ? '?' : ''}: ${type};`];
}

function messageLines(type: protobuf.Type): string[] {
  const comment = [type.fullName.slice(1), type.comment].filter(Boolean).join('\n\n');
  if (type.fieldsArray.length === 0) return [...docComment(comment, ''), `export type ${interfaceName(type)} = Record<string, never>;`];
  const out = [...docComment(comment, ''), `export interface ${interfaceName(type)} {`];
  for (const field of type.fieldsArray) out.push(...fieldLines(field));
  out.push('}');
  return out;
}

function enumLines(e: protobuf.Enum): string[] {
  const comment = [e.fullName.slice(1), e.comment].filter(Boolean).join('\n\n');
  const out = [...docComment(comment, ''), `export const ${enumTableName(e)} = {`];
  for (const [name, value] of Object.entries(e.values)) {
    out.push(...docComment(e.comments[name], '  '), `  ${name}: ${value},`);
  }
  out.push('} as const;', '', `export type ${qualifiedName(e)}Name = keyof typeof ${enumTableName(e)};`);
  return out;
}

function walk(ns: protobuf.NamespaceBase, out: string[][]): void {
  for (const nested of ns.nestedArray) {
    if (nested instanceof protobuf.Type) out.push(messageLines(nested));
    else if (nested instanceof protobuf.Enum) out.push(enumLines(nested));
    if (nested instanceof protobuf.Namespace || nested instanceof protobuf.Type) walk(nested, out);
  }
}

/** proto/ of the source tree, whether this runs compiled (dist/proto/) or from source. */
export const SOURCE_DIR = path.basename(path.dirname(__dirname)) === 'dist' ? path.join(__dirname, '..', '..', 'proto') : __dirname;

/** The text of proto/messages.ts for the .proto at `protoFile`. */
export function generateMessages(protoFile = path.join(SOURCE_DIR, 'flume.proto')): string {
  const parsed = protobuf.parse(fs.readFileSync(protoFile, 'utf8'), { alternateCommentMode: true });
  parsed.root.resolveAll();
  const blocks: string[][] = [];
  walk(parsed.root, blocks);
  const header = [
    '// Generated from proto/flume.proto by proto/gen-messages.ts: do not edit.',
    '// Regenerate: npx tsc -p . && node dist/proto/gen-messages.js',
    '//',
    '// Plain-object shapes of the messages as proto/index.ts decodes them (longs and enums as',
    '// numbers, bytes as Buffers, defaults filled in), and the number of every enum value.',
  ];
  return [header, ...blocks].map((b) => b.join('\n')).join('\n\n') + '\n';
}

if (require.main === module) {
  const target = path.join(SOURCE_DIR, 'messages.ts');
  const text = generateMessages();
  if (process.argv.includes('--check')) {
    if (fs.readFileSync(target, 'utf8') !== text) {
      console.error(`${target} is out of date; regenerate it: node dist/proto/gen-messages.js`);
      process.exit(1);
    }
  } else {
    fs.writeFileSync(target, text);
    console.log(`wrote ${target}`);
  }
}
