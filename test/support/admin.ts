import { createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { RegistryService } from "../../gen/iir/registry/v1/registry_pb.js";

/** The admin token the test meshes and routers are started with (IIR_ADMIN_TOKEN). */
export const testAdminToken = "iir-test-admin-token";

/** Request headers that carry the test admin token. */
export const adminHeaders: Readonly<Record<string, string>> = Object.freeze({ authorization: `Bearer ${testAdminToken}` });

/** An interceptor that sends `authorization: Bearer <token>` on every call. */
export function bearer(token: string): Interceptor {
  return (next) => (request) => {
    request.header.set("authorization", `Bearer ${token}`);
    return next(request);
  };
}

/** A RegistryService client of the router at `baseUrl` that presents the test admin token. */
export function adminRegistry(baseUrl: string) {
  return createClient(RegistryService, createGrpcTransport({ baseUrl, interceptors: [bearer(testAdminToken)] }));
}
