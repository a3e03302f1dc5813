import { createBearerTokenCheck } from "./bearer-token-check.js";

/**
 * Checks the Bearer token RegistryService mutations (UpsertModel, DeleteModel) need when the router
 * has IIR_ADMIN_TOKEN set: Unauthenticated without one, PermissionDenied with a wrong one. Reads
 * stay open. The `iir models` CLI writes the registry file directly and is not affected.
 */
export function createAdminTokenCheck(token: string | undefined): (headers: Headers) => void {
  return createBearerTokenCheck(token, {
    missing: "registry changes need the admin token: send authorization: Bearer <IIR_ADMIN_TOKEN>",
    invalid: "the admin token is not valid",
  });
}
