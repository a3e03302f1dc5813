/**
 * HPACK (RFC 7541), as the h2c client needs it: a full decoder (static and dynamic tables, Huffman
 * strings, table size updates) for what a server sends, and an encoder that writes every field as a
 * literal without indexing (or a static-table index where one matches exactly), which keeps no state
 * that the peer's table could disagree with. Header values are bytes; they are read and written as
 * Latin-1, as node:http2 does.
 */

/** One header field: a lower-case name and its value. */
export type HeaderPair = [name: string, value: string];

/** A header block the peer sent that does not decode: a connection error (COMPRESSION_ERROR). */
export class HpackError extends Error {
  override readonly name = "HpackError";
}

/** RFC 7541 Appendix A; index 1 is the first entry. */
const staticTable: readonly HeaderPair[] = [
  [":authority", ""],
  [":method", "GET"],
  [":method", "POST"],
  [":path", "/"],
  [":path", "/index.html"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "200"],
  [":status", "204"],
  [":status", "206"],
  [":status", "304"],
  [":status", "400"],
  [":status", "404"],
  [":status", "500"],
  ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"],
  ["accept-language", ""],
  ["accept-ranges", ""],
  ["accept", ""],
  ["access-control-allow-origin", ""],
  ["age", ""],
  ["allow", ""],
  ["authorization", ""],
  ["cache-control", ""],
  ["content-disposition", ""],
  ["content-encoding", ""],
  ["content-language", ""],
  ["content-length", ""],
  ["content-location", ""],
  ["content-range", ""],
  ["content-type", ""],
  ["cookie", ""],
  ["date", ""],
  ["etag", ""],
  ["expect", ""],
  ["expires", ""],
  ["from", ""],
  ["host", ""],
  ["if-match", ""],
  ["if-modified-since", ""],
  ["if-none-match", ""],
  ["if-range", ""],
  ["if-unmodified-since", ""],
  ["last-modified", ""],
  ["link", ""],
  ["location", ""],
  ["max-forwards", ""],
  ["proxy-authenticate", ""],
  ["proxy-authorization", ""],
  ["range", ""],
  ["referer", ""],
  ["refresh", ""],
  ["retry-after", ""],
  ["server", ""],
  ["set-cookie", ""],
  ["strict-transport-security", ""],
  ["transfer-encoding", ""],
  ["user-agent", ""],
  ["vary", ""],
  ["via", ""],
  ["www-authenticate", ""],
];

/**
 * The length in bits of each symbol's Huffman code (RFC 7541 Appendix B), symbols 0–255 and EOS
 * (256). The code is canonical: codes of one length are consecutive and in symbol order, each
 * length's first code following the last of the shorter ones, so the lengths alone define it.
 */
const huffmanCodeLengths = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];
const eos = 256;
const longestCode = 30;

/** Canonical decoding tables: per length, its first code, and where its symbols start in `symbolsByCode`. */
const firstCode = new Int32Array(longestCode + 2);
const codeCount = new Int32Array(longestCode + 2);
const firstSymbolIndex = new Int32Array(longestCode + 2);
const symbolsByCode = new Uint16Array(huffmanCodeLengths.length);
{
  for (const length of huffmanCodeLengths) codeCount[length]!++;
  let code = 0;
  let index = 0;
  for (let length = 1; length <= longestCode; length++) {
    firstCode[length] = code;
    firstSymbolIndex[length] = index;
    index += codeCount[length]!;
    code = (code + codeCount[length]!) << 1;
  }
  const next = firstSymbolIndex.slice();
  for (let symbol = 0; symbol < huffmanCodeLengths.length; symbol++) symbolsByCode[next[huffmanCodeLengths[symbol]!]!++] = symbol;
}

let scratch = Buffer.allocUnsafe(1024);

/** Decodes a Huffman-coded string (RFC 7541 §5.2): padding must be < 8 bits, all ones, and no EOS. */
export function huffmanDecode(input: Buffer, start: number, end: number): string {
  // The shortest code is 5 bits: at most 8/5 symbols per byte.
  const most = Math.ceil(((end - start) * 8) / 5);
  if (scratch.length < most) scratch = Buffer.allocUnsafe(most);
  const out = scratch;
  let written = 0;
  let code = 0;
  let length = 0;
  let allOnes = true;
  for (let i = start; i < end; i++) {
    const byte = input[i]!;
    for (let bit = 7; bit >= 0; bit--) {
      const set = (byte >> bit) & 1;
      code = (code << 1) | set;
      allOnes &&= set === 1;
      length++;
      const offset = code - firstCode[length]!;
      if (offset < codeCount[length]!) {
        const symbol = symbolsByCode[firstSymbolIndex[length]! + offset]!;
        if (symbol === eos) throw new HpackError("a Huffman string holds EOS");
        out[written++] = symbol;
        code = 0;
        length = 0;
        allOnes = true;
      } else if (length >= longestCode) {
        throw new HpackError("a Huffman string holds an invalid code");
      }
    }
  }
  if (length > 7 || !allOnes) throw new HpackError("a Huffman string is padded wrongly");
  return out.toString("latin1", 0, written);
}

/** Decodes header blocks from one peer; its dynamic table lives as long as the connection. */
export class HpackDecoder {
  /** Newest first. */
  private readonly dynamic: HeaderPair[] = [];
  private dynamicSize = 0;
  private maxSize: number;
  private position = 0;

  /**
   * `limit`: the SETTINGS_HEADER_TABLE_SIZE this side announced (the peer may use less).
   * `maxListSize`: the most a decoded block may hold, counted as HTTP/2's SETTINGS_MAX_HEADER_LIST_SIZE
   * counts (name + value + 32 per field): a small block of references to one large entry must not
   * decode to a huge list.
   */
  constructor(
    private readonly limit = 4096,
    private readonly maxListSize = 256 * 1024,
  ) {
    this.maxSize = limit;
  }

  /** Every field of one complete header block, in order. Throws HpackError. */
  decode(block: Buffer): HeaderPair[] {
    const fields: HeaderPair[] = [];
    this.position = 0;
    let listSize = 0;
    while (this.position < block.length) {
      if (listSize > this.maxListSize) throw new HpackError(`a header block decodes to more than ${this.maxListSize} bytes`);
      const first = block[this.position]!;
      if ((first & 0x80) !== 0) {
        const field = this.entry(this.integer(block, 7));
        listSize += field[0].length + field[1].length + 32;
        fields.push(field);
      } else if ((first & 0x40) !== 0) {
        const field = this.literal(block, 6);
        this.insert(field);
        listSize += field[0].length + field[1].length + 32;
        fields.push(field);
      } else if ((first & 0x20) !== 0) {
        const size = this.integer(block, 5);
        if (size > this.limit) throw new HpackError(`a table size update to ${size} exceeds ${this.limit}`);
        this.maxSize = size;
        this.evict(0);
      } else {
        // Literal without indexing (0000) or never indexed (0001).
        const field = this.literal(block, 4);
        listSize += field[0].length + field[1].length + 32;
        fields.push(field);
      }
    }
    if (listSize > this.maxListSize) throw new HpackError(`a header block decodes to more than ${this.maxListSize} bytes`);
    return fields;
  }

  private literal(block: Buffer, prefixBits: number): HeaderPair {
    const index = this.integer(block, prefixBits);
    const name = index === 0 ? this.string(block) : this.entry(index)[0];
    return [name, this.string(block)];
  }

  private entry(index: number): HeaderPair {
    if (index === 0) throw new HpackError("a header field has index 0");
    if (index <= staticTable.length) return staticTable[index - 1]!;
    const field = this.dynamic[index - staticTable.length - 1];
    if (field === undefined) throw new HpackError(`a header field has index ${index}, beyond the table`);
    return field;
  }

  private insert(field: HeaderPair): void {
    const size = field[0].length + field[1].length + 32;
    this.evict(size);
    // An entry larger than the whole table empties it and is not added (RFC 7541 §4.4).
    if (size > this.maxSize) return;
    this.dynamic.unshift(field);
    this.dynamicSize += size;
  }

  /** Evicts the oldest entries until `room` more octets fit. */
  private evict(room: number): void {
    while (this.dynamic.length > 0 && this.dynamicSize + room > this.maxSize) {
      const [name, value] = this.dynamic.pop()!;
      this.dynamicSize -= name.length + value.length + 32;
    }
  }

  /** An integer with an N-bit prefix (RFC 7541 §5.1). */
  private integer(block: Buffer, prefixBits: number): number {
    const mask = (1 << prefixBits) - 1;
    let value = block[this.position++]! & mask;
    if (value < mask) return value;
    let shift = 0;
    for (;;) {
      if (this.position >= block.length) throw new HpackError("a header block ends inside an integer");
      const byte = block[this.position++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return value;
      shift += 7;
      if (shift > 28) throw new HpackError("a header block holds an integer too large");
    }
  }

  private string(block: Buffer): string {
    if (this.position >= block.length) throw new HpackError("a header block ends before a string");
    const huffman = (block[this.position]! & 0x80) !== 0;
    const length = this.integer(block, 7);
    const start = this.position;
    const end = start + length;
    if (end > block.length) throw new HpackError("a header block ends inside a string");
    this.position = end;
    if (huffman) return huffmanDecode(block, start, end);
    return block.toString("latin1", start, end);
  }
}

const staticIndexOfField = new Map<string, number>();
const staticIndexOfName = new Map<string, number>();
staticTable.forEach(([name, value], i) => {
  if (value !== "") staticIndexOfField.set(`${name}\0${value}`, i + 1);
  if (!staticIndexOfName.has(name)) staticIndexOfName.set(name, i + 1);
});

/**
 * Encodes fields as one header block: a static-table index for an exact match, otherwise a literal
 * without indexing (with the static table's index for a known name), strings not Huffman-coded.
 * Names must already be lower case. Throws a TypeError for a name or value HTTP/2 cannot carry.
 */
export function encodeHeaderBlock(fields: readonly HeaderPair[]): Buffer {
  let size = 0;
  for (const [name, value] of fields) {
    checkField(name, value);
    size += 1 + 5 + name.length + 5 + value.length;
  }
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  const integer = (value: number, prefixBits: number, firstBits: number) => {
    const mask = (1 << prefixBits) - 1;
    if (value < mask) {
      out[at++] = firstBits | value;
      return;
    }
    out[at++] = firstBits | mask;
    value -= mask;
    while (value >= 0x80) {
      out[at++] = (value & 0x7f) | 0x80;
      value = Math.floor(value / 0x80);
    }
    out[at++] = value;
  };
  const string = (text: string) => {
    integer(text.length, 7, 0);
    at += out.write(text, at, "latin1");
  };
  for (const [name, value] of fields) {
    const exact = staticIndexOfField.get(`${name}\0${value}`);
    if (exact !== undefined) {
      integer(exact, 7, 0x80);
      continue;
    }
    const nameIndex = staticIndexOfName.get(name);
    if (nameIndex !== undefined) {
      integer(nameIndex, 4, 0);
    } else {
      out[at++] = 0;
      string(name);
    }
    string(value);
  }
  return out.subarray(0, at);
}

// A token (RFC 9110 §5.6.2) in lower case, or a pseudo-header name.
const fieldName = /^:?[!#$%&'*+\-.^_`|~0-9a-z]+$/;
// Latin-1 without control characters other than tab (no CR, LF or NUL).
const fieldValue = /^[\t\x20-\x7e\x80-\xff]*$/;

function checkField(name: string, value: string): void {
  if (!fieldName.test(name)) throw new TypeError(`invalid HTTP/2 header name: ${JSON.stringify(name)}`);
  if (!fieldValue.test(value)) throw new TypeError(`invalid value for HTTP/2 header ${name}: ${JSON.stringify(value)}`);
}
