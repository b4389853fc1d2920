/**
 * The wire contract loaded at run time from proto/flume.proto, and grpc-js service definitions
 * built from it.
 *
 * Messages are plain objects (`longs: Number`, enums as numbers, defaults filled in), except
 * where a method is listed as raw: its messages stay Buffers in both directions, so a batch
 * travels from socket to disk without being decoded (Collector.Append).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import * as protobuf from 'protobufjs';

function findProtoFile(): string {
  let dir = __dirname;
  for (;;) {
    const candidate = path.join(dir, 'proto', 'flume.proto');
    if (fs.existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`proto/flume.proto not found above ${__dirname}`);
    dir = parent;
  }
}

const PROTO_FILE = findProtoFile();

let root: protobuf.Root | undefined;

export function protoRoot(): protobuf.Root {
  root ??= protobuf.loadSync(PROTO_FILE);
  return root;
}

export function messageType(name: string): protobuf.Type {
  return protoRoot().lookupType(`flume.${name}`);
}

const CONVERSION: protobuf.IConversionOptions = {
  longs: Number,
  enums: Number,
  bytes: Buffer,
  defaults: true,
  arrays: true,
  objects: true,
};

export function encodeMessage(name: string, value: object): Buffer {
  const type = messageType(name);
  return Buffer.from(type.encode(type.fromObject(value)).finish());
}

export function decodeMessage<T = Record<string, unknown>>(name: string, bytes: Uint8Array): T {
  const type = messageType(name);
  return type.toObject(type.decode(bytes), CONVERSION) as T;
}

const identity = (b: Buffer): Buffer => b;

/**
 * A grpc-js service definition for `flume.<service>`. Methods named in `raw` carry Buffers
 * (the caller encodes and decodes); the others carry plain objects.
 */
export function serviceDefinition(service: string, raw: string[] = []): grpc.ServiceDefinition {
  const svc = protoRoot().lookupService(`flume.${service}`);
  const def: Record<string, grpc.MethodDefinition<any, any>> = {};
  for (const method of svc.methodsArray) {
    method.resolve();
    const isRaw = raw.includes(method.name);
    const req = method.resolvedRequestType!;
    const res = method.resolvedResponseType!;
    const objectCodec = (type: protobuf.Type) => ({
      serialize: (value: object) => Buffer.from(type.encode(type.fromObject(value)).finish()),
      deserialize: (bytes: Buffer) => type.toObject(type.decode(bytes), CONVERSION),
    });
    const reqCodec = isRaw ? { serialize: identity, deserialize: identity } : objectCodec(req);
    const resCodec = isRaw ? { serialize: identity, deserialize: identity } : objectCodec(res);
    def[method.name] = {
      path: `/flume.${service}/${method.name}`,
      requestStream: !!method.requestStream,
      responseStream: !!method.responseStream,
      requestSerialize: reqCodec.serialize,
      requestDeserialize: reqCodec.deserialize,
      responseSerialize: resCodec.serialize,
      responseDeserialize: resCodec.deserialize,
      originalName: method.name,
    };
  }
  return def;
}
