import test from "ava";
import { encodeHeaderBlock, HpackDecoder, HpackError, huffmanDecode } from "./hpack.js";

// Decoding against nghttp2 is tested in h2-client-connection.test.ts; these are the cases a
// well-behaved server does not produce: eviction limits, malformed blocks and strings.

/** A literal with incremental indexing and a new name (RFC 7541 §6.2.1), strings not Huffman-coded. */
const indexed = (name: string, value: string) => {
  const length = value.length < 127 ? Buffer.from([value.length]) : Buffer.from([127, ...varint(value.length - 127)]);
  return Buffer.concat([Buffer.from([0x40, name.length]), Buffer.from(name), length, Buffer.from(value)]);
};
const varint = (value: number): number[] => (value < 128 ? [value] : [(value & 0x7f) | 0x80, ...varint(value >>> 7)]);

test("the dynamic table keeps within its size: the oldest entries go, and referring to them is an error", (t) => {
  // Each entry is 32 + 2 + 8 = 42 bytes; 100 bytes hold two.
  const decoder = new HpackDecoder(100);
  t.deepEqual(decoder.decode(Buffer.concat([indexed("x1", "value--1"), indexed("x2", "value--2"), indexed("x3", "value--3")])), [["x1", "value--1"], ["x2", "value--2"], ["x3", "value--3"]]);
  // 62 is the newest, 63 the one before; x1 was evicted.
  t.deepEqual(decoder.decode(Buffer.from([0x80 | 62, 0x80 | 63])), [["x3", "value--3"], ["x2", "value--2"]]);
  t.throws(() => decoder.decode(Buffer.from([0x80 | 64])), { instanceOf: HpackError, message: /index 64/ });
  // A size update to 0 empties it; one above the limit is refused.
  decoder.decode(Buffer.from([0x20]));
  t.throws(() => decoder.decode(Buffer.from([0x80 | 62])), { instanceOf: HpackError });
  t.throws(() => decoder.decode(Buffer.from([0x3f, 0x46])), { instanceOf: HpackError, message: /exceeds 100/ });
});

test("an entry larger than the whole table empties it and is not added", (t) => {
  const decoder = new HpackDecoder(100);
  decoder.decode(indexed("x1", "value--1"));
  t.deepEqual(decoder.decode(indexed("big", "v".repeat(80))), [["big", "v".repeat(80)]]);
  t.throws(() => decoder.decode(Buffer.from([0x80 | 62])), { instanceOf: HpackError });
});

test("truncated blocks and oversized integers are errors, not crashes", (t) => {
  const decoder = new HpackDecoder();
  for (const block of [[0x40], [0x40, 0x05, 0x61], [0x7f], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], [0x80]]) {
    t.throws(() => decoder.decode(Buffer.from(block)), { instanceOf: HpackError }, `block ${JSON.stringify(block)}`);
  }
});

test("Huffman strings: RFC 7541's examples decode; EOS, long or zero padding are errors", (t) => {
  const decode = (hex: string) => huffmanDecode(Buffer.from(hex, "hex"), 0, hex.length / 2);
  t.is(decode("f1e3c2e5f23a6ba0ab90f4ff"), "www.example.com");
  t.is(decode("a8eb10649cbf"), "no-cache");
  t.is(decode("6402"), "302");
  t.is(decode("9d29ad171863c78f0b97c8e9ae82ae43d3"), "https://www.example.com");
  // "0" is 00000; padded with 000 instead of 111.
  t.throws(() => decode("00"), { instanceOf: HpackError, message: /padded/ });
  // A whole byte of ones after the code: padding of 8+ bits.
  t.throws(() => decode("07ff"), { instanceOf: HpackError, message: /padded/ });
  // EOS (30 ones) coded outright.
  t.throws(() => decode("ffffffff"), { instanceOf: HpackError, message: /EOS/ });
});

test("the encoder's blocks decode to what was encoded", (t) => {
  const fields: [string, string][] = [[":method", "POST"], [":path", "/a/b"], [":authority", "h:1"], ["content-type", "application/grpc"], ["x-long", "x".repeat(300)], ["x-latin1", "caf\u00e9"], ["te", "trailers"]];
  t.deepEqual(new HpackDecoder().decode(encodeHeaderBlock(fields)), fields);
});

test("a block of references to one large entry may not decode to more than the list limit", (t) => {
  const decoder = new HpackDecoder(4096, 64 * 1024);
  // One 4000-byte entry, then 20 references to it (~80 KB decoded from 20 bytes).
  decoder.decode(indexed("x", "v".repeat(4000 - 33)));
  t.is(decoder.decode(Buffer.alloc(15, 0x80 | 62)).length, 15);
  t.throws(() => decoder.decode(Buffer.alloc(20, 0x80 | 62)), { instanceOf: HpackError, message: /more than 65536 bytes/ });
});
