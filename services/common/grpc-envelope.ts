/** One gRPC length-prefixed message: a flag byte (0, uncompressed), the length (4 bytes, big-endian), the message. */
export function grpcEnvelope(message: Uint8Array): Buffer {
  const framed = Buffer.allocUnsafe(5 + message.length);
  framed[0] = 0;
  framed.writeUInt32BE(message.length, 1);
  framed.set(message, 5);
  return framed;
}
