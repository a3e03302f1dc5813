import { Code, ConnectError } from "@connectrpc/connect";

// The errors of route resolution: what a client or operator reads when a model cannot be routed.

/**
 * Why no deployment of a model can be called, each named: Unavailable when one waits on agents
 * (they may come back), FailedPrecondition when all need an operator, else the first refusal's code.
 */
export function noDeploymentCallable(model: string, skipped: readonly { readonly name: string; readonly error: ConnectError }[]): ConnectError {
  const codes = skipped.map(({ error }) => error.code);
  const code = codes.includes(Code.Unavailable)
    ? Code.Unavailable
    : codes.every((each) => each === Code.FailedPrecondition)
      ? Code.FailedPrecondition
      : (codes.find((each) => each !== Code.FailedPrecondition) ?? Code.FailedPrecondition);
  const reasons = skipped.map(({ name, error }) => `${name}: ${error.rawMessage}`).join("; ");
  return new ConnectError(`no deployment of model '${model}' can be called: ${reasons}`, code);
}

/** Whether a resolution error means the model is there but cannot be called now (vs. unknown, disabled, refused). */
export function cannotBeCalled(error: unknown): boolean {
  const code = ConnectError.from(error).code;
  return code === Code.FailedPrecondition || code === Code.Unavailable;
}

/** A `<provider>/<model>` name whose provider is not configured here: to the client, that model does not exist. */
export function notConfigured(model: string, provider: string, variable: string): ConnectError {
  return new ConnectError(`The model '${model}' is not available: provider '${provider}' is not configured on this gateway (${variable} is not set).`, Code.NotFound);
}

/** A bare name a provider owns by its prefix, with that provider not configured here. */
export function bareNameNotConfigured(model: string, provider: string, variable: string): ConnectError {
  return new ConnectError(`The model '${model}' does not exist on this gateway: it is a '${provider}' model and provider '${provider}' is not configured here; set ${variable} to use it, or register the name.`, Code.NotFound);
}

/** OpenAI's wording for a model that is not there (unknown, disabled). */
export function modelNotFound(model: string, reason: string): ConnectError {
  return new ConnectError(`The model '${model}' ${reason} or you do not have access to it.`, Code.NotFound);
}
