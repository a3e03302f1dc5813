import net from "node:net";
import { once } from "node:events";
import type { ExecutionContext } from "ava";

/** Listens on a free loopback port, closed (its connections too) after the test; the server's URL. */
export async function listenOnLoopback(t: ExecutionContext, server: net.Server, scheme = "http", host = "127.0.0.1"): Promise<URL> {
  const sockets = new Set<net.Socket>();
  server.on("connection", (socket: net.Socket) => sockets.add(socket));
  server.on("secureConnection", (socket: net.Socket) => sockets.add(socket));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return new URL(`${scheme}://${host}:${(server.address() as net.AddressInfo).port}`);
}
