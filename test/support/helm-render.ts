import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { parse, parseAllDocuments, stringify } from "yaml";

// Renders a Helm chart's templates without a `helm` binary: a Go text/template interpreter that knows
// only the actions and functions our chart uses. Anything else (another Sprig function, `block`,
// `break`, a method on a value) throws, so a green test also proves the chart stayed inside this
// small set. Semantics follow Go's text/template where the chart can tell the difference: trim
// markers, truthiness, lazy `and`/`or`, strict `eq`, nil-pointer errors on `.a.b` when `.a` is absent,
// maps ranged in key order, and Helm's "<no value>" printed as "".

/** The functions a chart may call; everything else is an error. */
export const supportedFunctions = [
  "include", "required", "default", "quote", "toYaml", "nindent", "indent", "printf",
  "trunc", "trimSuffix", "contains", "eq", "ne", "not", "and", "or", "add", "sha256sum",
] as const;

/** The actions a chart may use. */
export const supportedActions = ["if", "else", "else if", "with", "range", "end", "define", "template"] as const;

/** What a chart renders to: each template file's text, and its objects parsed from YAML. */
export interface RenderedChart {
  readonly files: ReadonlyMap<string, string>;
  readonly objects: readonly KubernetesObject[];
  readonly notes: string;
}

/** A rendered Kubernetes object; `source` names the template it came from. */
export interface KubernetesObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { name: string; labels?: Record<string, string>; [key: string]: unknown };
  readonly [key: string]: unknown;
  readonly source?: string;
}

/** A chart on disk: Chart.yaml, default values and its templates. */
export interface Chart {
  readonly directory: string;
  readonly metadata: { name: string; version: string; appVersion: string };
  readonly defaults: Record<string, unknown>;
  readonly templates: ReadonlyMap<string, string>;
}

/** Thrown for any template the interpreter cannot or will not evaluate. */
export class TemplateError extends Error {
  override name = "TemplateError";
}

/** Reads a chart directory. */
export function loadChart(directory: string): Chart {
  const metadata = parse(fs.readFileSync(path.join(directory, "Chart.yaml"), "utf8")) as Chart["metadata"];
  const defaults = parse(fs.readFileSync(path.join(directory, "values.yaml"), "utf8")) as Record<string, unknown>;
  const templates = new Map<string, string>();
  for (const file of fs.readdirSync(path.join(directory, "templates")).sort()) {
    templates.set(file, fs.readFileSync(path.join(directory, "templates", file), "utf8"));
  }
  return { directory, metadata, defaults, templates };
}

/** Helm's value coalescing: maps merge deeply, anything else replaces, null deletes the key. */
export function mergeValues(base: Record<string, unknown>, override: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) {
    if (value === null) delete merged[key];
    else if (isMap(value) && isMap(merged[key])) merged[key] = mergeValues(merged[key] as Record<string, unknown>, value);
    else merged[key] = value;
  }
  return merged;
}

/** Renders every template (and NOTES.txt) with `values` already merged over the defaults. */
export function renderChart(chart: Chart, values: Record<string, unknown>, release = { name: "iir", namespace: "inference" }): RenderedChart {
  const definitions = new Map<string, Node[]>();
  const parsed = new Map<string, Node[]>();
  for (const [file, source] of chart.templates) parsed.set(file, parseTemplate(source, file, definitions));
  const root = {
    Values: values,
    Release: { Name: release.name, Namespace: release.namespace, Service: "Helm", IsInstall: true, IsUpgrade: false, Revision: 1 },
    Chart: { Name: chart.metadata.name, Version: chart.metadata.version, AppVersion: chart.metadata.appVersion },
    Files: { Get: (file: unknown) => fs.readFileSync(path.join(chart.directory, String(file)), "utf8") },
  };
  const files = new Map<string, string>();
  const objects: KubernetesObject[] = [];
  let notes = "";
  for (const [file, nodes] of parsed) {
    if (file.startsWith("_")) continue;
    const text = execute(nodes, root, definitions, file);
    if (file === "NOTES.txt") {
      notes = text;
      continue;
    }
    files.set(file, text);
    for (const document of parseAllDocuments(text)) {
      if (document.errors.length > 0) throw new TemplateError(`${file}: rendered YAML does not parse: ${document.errors[0]?.message}\n${text}`);
      const object: unknown = document.toJS();
      if (object === null || object === undefined) continue;
      if (!isMap(object) || typeof object["kind"] !== "string") throw new TemplateError(`${file}: a document is not a Kubernetes object:\n${stringify(object)}`);
      objects.push({ ...(object as unknown as KubernetesObject), source: file });
    }
  }
  return { files, objects, notes };
}

// ---- parsing ---------------------------------------------------------------------------------

type Node =
  | { kind: "text"; text: string }
  | { kind: "action"; pipe: Pipeline }
  | { kind: "if" | "with"; pipe: Pipeline; then: Node[]; otherwise: Node[] }
  | { kind: "range"; pipe: Pipeline; then: Node[]; otherwise: Node[] }
  | { kind: "template"; name: string; pipe: Pipeline | undefined };

interface Pipeline {
  /** `$x :=` (or `$i, $v :=` in range) declares; `$x =` assigns. */
  readonly variables: readonly string[];
  readonly assign: boolean;
  readonly commands: readonly Operand[][];
}

type Operand =
  | { kind: "field"; path: readonly string[] }
  | { kind: "variable"; name: string; path: readonly string[] }
  | { kind: "function"; name: string }
  | { kind: "literal"; value: unknown }
  | { kind: "pipeline"; pipe: Pipeline };

type Token =
  | { kind: "field"; path: string[] }
  | { kind: "variable"; name: string; path: string[] }
  | { kind: "identifier"; name: string }
  | { kind: "literal"; value: unknown }
  | { kind: "symbol"; value: "(" | ")" | "|" | ":=" | "=" | "," };

interface RawAction {
  readonly body: string;
  readonly line: number;
}

/** Splits a template into text and actions, applying `{{-` and `-}}` trim markers. */
function scan(source: string, file: string): (string | RawAction)[] {
  const pieces: (string | RawAction)[] = [];
  let position = 0;
  let trimNext = false;
  while (position < source.length) {
    const open = source.indexOf("{{", position);
    let text = source.slice(position, open === -1 ? source.length : open);
    if (trimNext) text = text.replace(/^\s+/, "");
    if (open === -1) {
      pieces.push(text);
      break;
    }
    const line = source.slice(0, open).split("\n").length;
    const trimLeft = /^\{\{-\s/.test(source.slice(open, open + 4));
    if (trimLeft) text = text.replace(/\s+$/, "");
    pieces.push(text);
    const close = findActionEnd(source, open + 2, file, line);
    let body = source.slice(open + (trimLeft ? 3 : 2), close);
    trimNext = /\s-$/.test(body);
    if (trimNext) body = body.slice(0, -2);
    body = body.trim();
    if (!(body.startsWith("/*") && body.endsWith("*/"))) pieces.push({ body, line });
    position = close + 2;
  }
  return pieces;
}

function findActionEnd(source: string, from: number, file: string, line: number): number {
  let quote: string | undefined;
  for (let index = from; index < source.length; index++) {
    const character = source[index];
    if (quote !== undefined) {
      if (character === "\\" && quote === '"') index++;
      else if (character === quote) quote = undefined;
    } else if (character === '"' || character === "`") {
      quote = character;
    } else if (source.startsWith("/*", index)) {
      const end = source.indexOf("*/", index + 2);
      if (end === -1) break;
      index = end + 1;
    } else if (source.startsWith("}}", index)) {
      return index;
    }
  }
  throw new TemplateError(`${file}:${line}: unclosed action`);
}

function tokenize(body: string, where: string): Token[] {
  const tokens: Token[] = [];
  const pattern =
    /\s+|(?<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.)|(?<variable>\$[A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)|(?<string>"(?:[^"\\]|\\.)*")|(?<raw>`[^`]*`)|(?<number>-?\d+(?:\.\d+)?)|(?<identifier>[A-Za-z_][A-Za-z0-9_]*)|(?<symbol>:=|[()|=,])/y;
  let index = 0;
  while (index < body.length) {
    pattern.lastIndex = index;
    const match = pattern.exec(body);
    if (match === null) throw new TemplateError(`${where}: unsupported syntax at "${body.slice(index)}"`);
    index = pattern.lastIndex;
    const groups = match.groups ?? {};
    if (groups["field"] !== undefined) tokens.push({ kind: "field", path: groups["field"].split(".").slice(1).filter((part) => part !== "") });
    else if (groups["variable"] !== undefined) {
      const [name = "$", ...rest] = groups["variable"].split(".");
      tokens.push({ kind: "variable", name, path: rest });
    } else if (groups["string"] !== undefined) tokens.push({ kind: "literal", value: JSON.parse(groups["string"]) as string });
    else if (groups["raw"] !== undefined) tokens.push({ kind: "literal", value: groups["raw"].slice(1, -1) });
    else if (groups["number"] !== undefined) tokens.push({ kind: "literal", value: Number(groups["number"]) });
    else if (groups["identifier"] !== undefined) {
      const name = groups["identifier"];
      if (name === "true" || name === "false") tokens.push({ kind: "literal", value: name === "true" });
      else if (name === "nil") tokens.push({ kind: "literal", value: null });
      else tokens.push({ kind: "identifier", name });
    } else if (groups["symbol"] !== undefined) tokens.push({ kind: "symbol", value: groups["symbol"] as ":=" });
  }
  return tokens;
}

class PipelineParser {
  private index = 0;
  constructor(private readonly tokens: Token[], private readonly where: string) {}

  parse(allowDeclaration: boolean): Pipeline {
    const variables: string[] = [];
    let assign = false;
    const declaration = this.tokens.findIndex((token) => token.kind === "symbol" && (token.value === ":=" || token.value === "="));
    if (declaration !== -1 && this.tokens.slice(0, declaration).every((token) => token.kind === "variable" || (token.kind === "symbol" && token.value === ","))) {
      if (!allowDeclaration) throw new TemplateError(`${this.where}: a variable declaration is not supported here`);
      for (const token of this.tokens.slice(0, declaration)) if (token.kind === "variable") variables.push(token.name);
      assign = (this.tokens[declaration] as { value: string }).value === "=";
      this.index = declaration + 1;
    }
    const pipe = { variables, assign, commands: this.commands() };
    if (this.index < this.tokens.length) throw new TemplateError(`${this.where}: unexpected ${JSON.stringify(this.tokens[this.index])}`);
    return pipe;
  }

  private commands(): Operand[][] {
    const commands: Operand[][] = [[]];
    while (this.index < this.tokens.length) {
      const token = this.tokens[this.index] as Token;
      if (token.kind === "symbol" && token.value === ")") break;
      this.index++;
      const current = commands[commands.length - 1] as Operand[];
      if (token.kind === "symbol") {
        if (token.value === "|") commands.push([]);
        else if (token.value === "(") {
          current.push({ kind: "pipeline", pipe: { variables: [], assign: false, commands: this.commands() } });
          const closing = this.tokens[this.index++];
          if (closing?.kind !== "symbol" || closing.value !== ")") throw new TemplateError(`${this.where}: unclosed "("`);
        } else throw new TemplateError(`${this.where}: unexpected "${token.value}"`);
      } else if (token.kind === "identifier") {
        if (!(supportedFunctions as readonly string[]).includes(token.name)) throw new TemplateError(`${this.where}: unsupported function "${token.name}"`);
        current.push({ kind: "function", name: token.name });
      } else current.push(token);
    }
    if (commands.some((command) => command.length === 0)) throw new TemplateError(`${this.where}: empty command in pipeline`);
    return commands;
  }
}

function parsePipeline(body: string, where: string, allowDeclaration = true): Pipeline {
  return new PipelineParser(tokenize(body, where), where).parse(allowDeclaration);
}

/** Parses one file; `define` blocks go into `definitions`, shared by every file of the chart. */
function parseTemplate(source: string, file: string, definitions: Map<string, Node[]>): Node[] {
  const pieces = scan(source, file);
  let index = 0;
  const parseList = (): { nodes: Node[]; ended: string; line: number } => {
    const nodes: Node[] = [];
    while (index < pieces.length) {
      const piece = pieces[index++] as string | RawAction;
      if (typeof piece === "string") {
        if (piece !== "") nodes.push({ kind: "text", text: piece });
        continue;
      }
      const where = `${file}:${piece.line}`;
      const [keyword = ""] = piece.body.split(/\s+/);
      const rest = piece.body.slice(keyword.length).trim();
      if (keyword === "end" || keyword === "else") return { nodes, ended: piece.body, line: piece.line };
      if (keyword === "if" || keyword === "with" || keyword === "range") nodes.push(parseBlock(keyword, rest, where));
      else if (keyword === "define") {
        const name = JSON.parse(rest) as string;
        const body = parseList();
        if (body.ended !== "end") throw new TemplateError(`${where}: define "${name}" must close with end`);
        definitions.set(name, body.nodes);
      } else if (keyword === "template") {
        const [name, ...argument] = tokenize(rest, where);
        if (name?.kind !== "literal" || typeof name.value !== "string") throw new TemplateError(`${where}: template needs a name`);
        const pipe = argument.length === 0 ? undefined : new PipelineParser(argument, where).parse(false);
        nodes.push({ kind: "template", name: name.value, pipe });
      } else if (["block", "break", "continue"].includes(keyword)) {
        throw new TemplateError(`${where}: unsupported action "${keyword}"`);
      } else nodes.push({ kind: "action", pipe: parsePipeline(piece.body, where) });
    }
    return { nodes, ended: "", line: 0 };
  };
  const parseBlock = (keyword: "if" | "with" | "range", condition: string, where: string): Node => {
    const pipe = parsePipeline(condition, where, keyword === "range");
    const body = parseList();
    let otherwise: Node[] = [];
    if (body.ended.startsWith("else")) {
      const chained = body.ended.slice(4).trim();
      if (chained.startsWith("if ") && keyword === "if") {
        // `else if` closes with the outer block's single `end`.
        otherwise = [parseBlock("if", chained.slice(3), `${file}:${body.line}`)];
      } else if (chained === "") {
        const tail = parseList();
        if (tail.ended !== "end") throw new TemplateError(`${where}: ${keyword} must close with end`);
        otherwise = tail.nodes;
      } else throw new TemplateError(`${file}:${body.line}: unsupported "${body.ended}"`);
    } else if (body.ended !== "end") throw new TemplateError(`${where}: ${keyword} must close with end`);
    return { kind: keyword, pipe, then: body.nodes, otherwise } as Node;
  };
  const top = parseList();
  if (top.ended !== "") throw new TemplateError(`${file}:${top.line}: unexpected "${top.ended}"`);
  return top.nodes;
}

// ---- execution -------------------------------------------------------------------------------

class Scope {
  private readonly variables = new Map<string, unknown>();
  constructor(private readonly parent: Scope | undefined) {}
  declare(name: string, value: unknown): void {
    this.variables.set(name, value);
  }
  assign(name: string, value: unknown, where: string): void {
    for (let scope: Scope | undefined = this; scope !== undefined; scope = scope.parent) {
      if (scope.variables.has(name)) {
        scope.variables.set(name, value);
        return;
      }
    }
    throw new TemplateError(`${where}: undefined variable "${name}"`);
  }
  get(name: string, where: string): unknown {
    for (let scope: Scope | undefined = this; scope !== undefined; scope = scope.parent) {
      if (scope.variables.has(name)) return scope.variables.get(name);
    }
    throw new TemplateError(`${where}: undefined variable "${name}"`);
  }
}

function execute(nodes: readonly Node[], data: unknown, definitions: Map<string, Node[]>, file: string): string {
  const scope = new Scope(undefined);
  scope.declare("$", data);
  return new Executor(definitions, file).run(nodes, data, scope);
}

class Executor {
  constructor(private readonly definitions: Map<string, Node[]>, private readonly file: string) {}

  run(nodes: readonly Node[], dot: unknown, scope: Scope): string {
    let output = "";
    for (const node of nodes) output += this.node(node, dot, scope);
    return output;
  }

  private node(node: Node, dot: unknown, scope: Scope): string {
    switch (node.kind) {
      case "text":
        return node.text;
      case "action": {
        const value = this.pipeline(node.pipe, dot, scope);
        return node.pipe.variables.length > 0 ? "" : printValue(value, this.file);
      }
      case "if":
      case "with": {
        const value = this.pipeline(node.pipe, dot, scope);
        if (truthy(value)) return this.run(node.then, node.kind === "with" ? value : dot, new Scope(scope));
        return this.run(node.otherwise, dot, new Scope(scope));
      }
      case "range":
        return this.range(node, dot, scope);
      case "template":
        return this.include(node.name, node.pipe === undefined ? undefined : this.pipeline(node.pipe, dot, scope));
    }
  }

  private range(node: Extract<Node, { kind: "range" }>, dot: unknown, scope: Scope): string {
    const collection = this.pipeline({ ...node.pipe, variables: [] }, dot, scope);
    let entries: [unknown, unknown][];
    if (Array.isArray(collection)) entries = collection.map((item, index) => [index, item]);
    else if (isMap(collection)) entries = Object.keys(collection).sort().map((key) => [key, collection[key]]);
    else if (collection === null || collection === undefined) entries = [];
    else throw new TemplateError(`${this.file}: range can't iterate over ${JSON.stringify(collection)}`);
    if (entries.length === 0) return this.run(node.otherwise, dot, new Scope(scope));
    let output = "";
    for (const [key, item] of entries) {
      const inner = new Scope(scope);
      const [first, second] = node.pipe.variables;
      if (second !== undefined) {
        inner.declare(first as string, key);
        inner.declare(second, item);
      } else if (first !== undefined) inner.declare(first, item);
      output += this.run(node.then, item, inner);
    }
    return output;
  }

  private include(name: string, data: unknown): string {
    const body = this.definitions.get(name);
    if (body === undefined) throw new TemplateError(`${this.file}: no template "${name}"`);
    const scope = new Scope(undefined);
    scope.declare("$", data);
    return this.run(body, data, scope);
  }

  private pipeline(pipe: Pipeline, dot: unknown, scope: Scope): unknown {
    let value: unknown;
    pipe.commands.forEach((command, index) => {
      value = this.command(command, dot, scope, index === 0 ? [] : [value]);
    });
    const [name] = pipe.variables;
    if (name !== undefined) {
      if (pipe.assign) scope.assign(name, value, this.file);
      else scope.declare(name, value);
    }
    return value;
  }

  private command(command: readonly Operand[], dot: unknown, scope: Scope, piped: unknown[]): unknown {
    const [head, ...rest] = command as [Operand, ...Operand[]];
    if (head.kind === "function") {
      if (head.name === "and" || head.name === "or") return this.logical(head.name, [...rest.map((operand) => () => this.operand(operand, dot, scope)), ...piped.map((value) => () => value)]);
      return this.call(head.name, [...rest.map((operand) => this.operand(operand, dot, scope)), ...piped]);
    }
    const value = this.operand(head, dot, scope);
    if (typeof value === "function") return (value as (...args: unknown[]) => unknown)(...rest.map((operand) => this.operand(operand, dot, scope)), ...piped);
    if (rest.length > 0 || piped.length > 0) throw new TemplateError(`${this.file}: can't give arguments to a non-function`);
    return value;
  }

  private operand(operand: Operand, dot: unknown, scope: Scope): unknown {
    switch (operand.kind) {
      case "literal":
        return operand.value;
      case "field":
        return walk(dot, operand.path, this.file);
      case "variable":
        return walk(scope.get(operand.name, this.file), operand.path, this.file);
      case "pipeline":
        return this.pipeline(operand.pipe, dot, scope);
      case "function":
        return this.call(operand.name, []);
    }
  }

  private logical(name: "and" | "or", thunks: (() => unknown)[]): unknown {
    let value: unknown;
    for (const thunk of thunks) {
      value = thunk();
      if (name === "and" ? !truthy(value) : truthy(value)) return value;
    }
    return value;
  }

  private call(name: string, args: unknown[]): unknown {
    const expect = (count: number) => {
      if (args.length !== count) throw new TemplateError(`${this.file}: ${name} wants ${count} arguments, got ${args.length}`);
    };
    switch (name) {
      case "include":
        expect(2);
        return this.include(String(args[0]), args[1]);
      case "required":
        expect(2);
        if (args[1] === null || args[1] === undefined || args[1] === "") throw new TemplateError(`execution error: ${String(args[0])}`);
        return args[1];
      case "default":
        expect(2);
        return empty(args[1]) ? args[0] : args[1];
      case "quote":
        return args.filter((value) => value !== null && value !== undefined).map((value) => JSON.stringify(printValue(value, this.file))).join(" ");
      case "toYaml":
        expect(1);
        return stringify(args[0] ?? null, { sortMapEntries: true, lineWidth: 0 }).replace(/\n$/, "");
      case "nindent":
      case "indent": {
        expect(2);
        const pad = " ".repeat(Number(args[0]));
        const text = pad + printValue(args[1], this.file).replace(/\n/g, `\n${pad}`);
        return name === "nindent" ? `\n${text}` : text;
      }
      case "printf":
        return formatGo(String(args[0]), args.slice(1), this.file);
      case "trunc":
        expect(2);
        return printValue(args[1], this.file).slice(0, Number(args[0]));
      case "trimSuffix": {
        expect(2);
        const [suffix, text] = [String(args[0]), printValue(args[1], this.file)];
        return suffix !== "" && text.endsWith(suffix) ? text.slice(0, -suffix.length) : text;
      }
      case "contains":
        expect(2);
        return printValue(args[1], this.file).includes(printValue(args[0], this.file));
      case "eq":
      case "ne": {
        expect(2);
        const [left, right] = args;
        if (left !== null && left !== undefined && right !== null && right !== undefined && typeof left !== typeof right) {
          throw new TemplateError(`${this.file}: incompatible types for comparison: ${JSON.stringify(left)} and ${JSON.stringify(right)}`);
        }
        return name === "eq" ? left === right : left !== right;
      }
      case "not":
        expect(1);
        return !truthy(args[0]);
      case "add":
        return args.reduce<number>((sum, value) => {
          if (typeof value !== "number" || !Number.isInteger(value)) throw new TemplateError(`${this.file}: add wants integers, got ${JSON.stringify(value)}`);
          return sum + value;
        }, 0);
      case "sha256sum":
        expect(1);
        return createHash("sha256").update(printValue(args[0], this.file)).digest("hex");
      default:
        throw new TemplateError(`${this.file}: unsupported function "${name}"`);
    }
  }
}

function walk(value: unknown, fieldPath: readonly string[], file: string): unknown {
  let current = value;
  for (const [index, field] of fieldPath.entries()) {
    if (current === null || current === undefined) {
      throw new TemplateError(`${file}: nil pointer evaluating .${fieldPath.slice(0, index + 1).join(".")}`);
    }
    if (!isMap(current)) throw new TemplateError(`${file}: can't evaluate field ${field} in ${JSON.stringify(current)}`);
    current = Object.hasOwn(current, field) ? current[field] : undefined;
  }
  return current;
}

/** Go's truth: false, 0, "", nil and empty collections are false. */
function truthy(value: unknown): boolean {
  if (value === null || value === undefined || value === false || value === 0 || value === "") return false;
  if (Array.isArray(value)) return value.length > 0;
  if (isMap(value)) return Object.keys(value).length > 0;
  return true;
}

/** Sprig's `empty`, which `default` uses: the same as Go's falsehood. */
function empty(value: unknown): boolean {
  return !truthy(value);
}

function printValue(value: unknown, file: string): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  // Go would print map[...] or [a b]: never valid YAML, so a template that does it is a bug.
  throw new TemplateError(`${file}: printing ${JSON.stringify(value)} directly; use toYaml`);
}

function formatGo(format: string, args: unknown[], file: string): string {
  let next = 0;
  return format.replace(/%([%sdvq])/g, (_match, verb: string) => {
    if (verb === "%") return "%";
    if (next >= args.length) throw new TemplateError(`${file}: printf "${format}" is missing an argument`);
    const value = args[next++];
    if (verb === "d" && (typeof value !== "number" || !Number.isInteger(value))) throw new TemplateError(`${file}: printf %d of ${JSON.stringify(value)}`);
    const text = printValue(value, file);
    return verb === "q" ? JSON.stringify(text) : text;
  });
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
