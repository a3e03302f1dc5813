/** One gRPC length-prefixed message: a flag byte (0, uncompressed), the length (4 bytes, big-endian), the message. */
export function grpcEnvelope(message: Uint8Array): Buffer {
  return grpcEnvelopes([message]);
}

/** Messages as consecutive gRPC envelopes in one buffer, to go out in one write (one HTTP/2 DATA frame). */
export function grpcEnvelopes(messages: readonly Uint8Array[]): Buffer {
  let size = 0;
  for (const message of messages) size += 5 + message.length;
  const framed = Buffer.allocUnsafe(size);
  let offset = 0;
  for (const message of messages) {
    framed[offset] = 0;
    framed.writeUInt32BE(message.length, offset + 1);
    framed.set(message, offset + 5);
    offset += 5 + message.length;
  }
  return framed;
}
