type HeadersInit = ConstructorParameters<typeof Headers>[0];

// RFC 9110 token characters, the only ones a field name may hold.
const fieldName = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// A field value may not hold NUL, CR or LF, nor (as a WebIDL ByteString) a character above U+00FF;
// leading and trailing spaces and tabs are dropped.
const badValue = /[\0\r\n\u0100-\uffff]/;
const edgeWhitespace = /^[\t\n\r ]+|[\t\n\r ]+$/g;

/**
 * Headers for the calls made inside one process (the facade's calls into the router in `iir all`,
 * and the router's per-call contexts): the Fetch `Headers` contract — case-insensitive names, values
 * appended with ", ", `set-cookie` kept apart, iteration sorted by name, TypeError on a name or value
 * HTTP could not carry — on a plain Map. undici's Headers runs WebIDL conversions and brand checks on
 * every call, which came to ~2.5% of a request's CPU on the hot path. An instance is `instanceof
 * Headers`, and `new Headers(plain)` copies it.
 */
class PlainHeaders {
  readonly #fields = new Map<string, string>();
  #cookies: string[] | undefined;

  constructor(init?: HeadersInit) {
    if (init === undefined || init === null) return;
    if (init instanceof PlainHeaders || init instanceof Headers) {
      init.forEach((value, name) => this.append(name, value));
    } else if (Symbol.iterator in init) {
      for (const pair of init as Iterable<readonly string[]>) {
        if (pair.length !== 2) throw new TypeError("Headers constructor: expected name/value pair to be length 2");
        this.append(pair[0]!, pair[1]!);
      }
    } else {
      const record = init as Record<string, string>;
      for (const name of Object.keys(record)) this.append(name, record[name]!);
    }
  }

  append(name: string, value: string): void {
    const key = checkedName(name);
    const text = checkedValue(value);
    if (key === "set-cookie") {
      (this.#cookies ??= []).push(text);
      return;
    }
    const present = this.#fields.get(key);
    this.#fields.set(key, present === undefined ? text : `${present}, ${text}`);
  }

  set(name: string, value: string): void {
    const key = checkedName(name);
    const text = checkedValue(value);
    if (key === "set-cookie") this.#cookies = [text];
    else this.#fields.set(key, text);
  }

  get(name: string): string | null {
    const key = checkedName(name);
    if (key === "set-cookie") return this.#cookies === undefined || this.#cookies.length === 0 ? null : this.#cookies.join(", ");
    return this.#fields.get(key) ?? null;
  }

  has(name: string): boolean {
    const key = checkedName(name);
    return key === "set-cookie" ? this.#cookies !== undefined && this.#cookies.length > 0 : this.#fields.has(key);
  }

  delete(name: string): void {
    const key = checkedName(name);
    if (key === "set-cookie") this.#cookies = undefined;
    else this.#fields.delete(key);
  }

  getSetCookie(): string[] {
    return this.#cookies === undefined ? [] : [...this.#cookies];
  }

  forEach(callback: (value: string, name: string, parent: Headers) => void, thisArg?: unknown): void {
    for (const [name, value] of this.entries()) callback.call(thisArg, value, name, this as unknown as Headers);
  }

  *entries(): IterableIterator<[string, string]> {
    const names = [...this.#fields.keys()];
    if (this.#cookies !== undefined && this.#cookies.length > 0) names.push("set-cookie");
    names.sort();
    for (const name of names) {
      if (name === "set-cookie") for (const cookie of this.#cookies!) yield [name, cookie];
      else yield [name, this.#fields.get(name)!];
    }
  }

  *keys(): IterableIterator<string> {
    for (const [name] of this.entries()) yield name;
  }

  *values(): IterableIterator<string> {
    for (const [, value] of this.entries()) yield value;
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }

  get [Symbol.toStringTag](): string {
    return "Headers";
  }
}
// Once, for the class: `instanceof Headers` holds, with every method this class's own.
Object.setPrototypeOf(PlainHeaders.prototype, Headers.prototype);

/** New {@link PlainHeaders}, copied from `init` when given. */
export function createHeaders(init?: HeadersInit): Headers {
  return new PlainHeaders(init) as unknown as Headers;
}

function checkedName(name: string): string {
  if (!fieldName.test(name)) throw new TypeError(`Headers: invalid header name "${name}"`);
  return name.toLowerCase();
}

function checkedValue(value: string): string {
  const text = String(value);
  const trimmed = text.length > 0 && (isEdgeSpace(text.charCodeAt(0)) || isEdgeSpace(text.charCodeAt(text.length - 1))) ? text.replace(edgeWhitespace, "") : text;
  if (badValue.test(trimmed)) throw new TypeError(`Headers: invalid value for a header`);
  return trimmed;
}

function isEdgeSpace(code: number): boolean {
  return code === 32 || code === 9 || code === 10 || code === 13;
}
