import { parseArgs, type ParseArgsConfig } from "node:util";

/**
 * A command line the CLI cannot act on. The message already carries the relevant usage text;
 * the CLI prints it and exits with `exitCode` (2, as for any usage error).
 */
export class UsageError extends Error {
  readonly exitCode = 2;

  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Help for `iir models`, `iir seed` and `iir migrate`. */
export const modelsUsage = `usage:
  iir models list [--json]
  iir models show NAME [--json]        every field, deployments one a line
  iir models add NAME --provider P [flags]
  iir models update NAME [flags]       only the flags given change
  iir models rm NAME
  iir seed FILE                        upsert every model of a YAML or JSON file { models: [...] }
  iir migrate                          bring the registry schema up to date

flags:
  --provider P          openai, llm-d, openrouter, groq, venice, local…
  --base-url URL        http(s) endpoint of the upstream API
  --upstream-model M    the model name the upstream knows (default: NAME)
  --api-key-env VAR     EXTERNAL_* environment variable holding the provider key (never the key itself)
  --fallbacks a,b       models tried in order when this one is unavailable
  --context-length N    context window in tokens
  --input-price X       price per million input tokens
  --output-price Y      price per million output tokens
  --disabled            keep the model registered but refuse requests for it
  --enabled             (update) accept requests again
  --allow-request-field F
                        let clients send F, a request field that changes billing or routing at the
                        provider (service_tier, OpenRouter's models and provider…); repeat for more.
                        Without it those fields are dropped. (update) the list given replaces the
                        stored one; --allow-request-field '' clears it
  --cache-sampled       cache answers to sampling requests too (temperature above 0 without a seed)
  --no-cache-sampled    (update) cache only answers to requests that do not sample
  --deployment provider=P,model=M,base-url=URL,key-env=VAR,weight=N,name=LABEL
                        one place the model is served (provider is required; empty keys come from
                        the provider's configuration; name defaults to P/M); repeat for more.
                        Listed deployments replace the provider fields above. (update) the list
                        given replaces the stored one; --deployment '' clears it
  --strategy S          how a deployment is chosen: ordered (default), weighted, least-busy,
                        lowest-latency
  --ttft-timeout T      longest wait for the first token before the next deployment or fallback
                        is tried: milliseconds (1500) or seconds (30s); 0: the router's default
  --capability C        what the model can do, for auto routing: tools, images, json_schema,
                        reasoning; repeat for more. (update) replaces the list; '' clears it`;

type Options = NonNullable<ParseArgsConfig["options"]>;

/** node:util parseArgs with its errors turned into a UsageError that shows the models usage. */
export function parseCommandArgs<T extends Options>(args: readonly string[], options: T) {
  try {
    return parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new UsageError(`${reason}\n${modelsUsage}`);
  }
}

/** The one positional argument a command needs, e.g. the NAME of `iir models rm NAME`. */
export function requireOnePositional(positionals: readonly string[], what: string, command: string): string {
  if (positionals.length !== 1 || positionals[0]?.trim() === "") {
    const got = positionals.length === 0 ? "none" : positionals.map((value) => `'${value}'`).join(" ");
    throw new UsageError(`${command} takes exactly one ${what}, got ${got}\n${modelsUsage}`);
  }
  return positionals[0] as string;
}
