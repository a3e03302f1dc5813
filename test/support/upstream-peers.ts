import { spawn } from "node:child_process";
import http from "node:http";
import net from "node:net";
import { once } from "node:events";
import type { ExecutionContext } from "ava";

// Peers of the router's upstream HTTP client that the fake OpenAI upstream cannot play: a server
// answering with exactly the bytes a test scripts, a CONNECT proxy, and an address that never answers.

/** What a raw server was asked: the request's head and body as text, and the upstream model named in the body. */
export interface RawRequest {
  readonly head: string;
  readonly body: string;
  readonly model: string;
}

/**
 * A TCP server that reads whole requests (head and Content-Length body) and lets the test answer
 * each with bytes of its own, on the same connection: keep-alive as the test decides.
 */
export async function rawHttpServer(t: ExecutionContext, answer: (socket: net.Socket, request: RawRequest) => void | Promise<void>) {
  const sockets = new Set<net.Socket>();
  const stats = { connections: 0, requests: 0 };
  const server = net.createServer((socket) => {
    stats.connections++;
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    let buffered = "";
    socket.on("data", (bytes) => {
      buffered += bytes.toString("latin1");
      for (;;) {
        const end = buffered.indexOf("\r\n\r\n");
        if (end < 0) return;
        const length = Number(/content-length: *(\d+)/i.exec(buffered.slice(0, end))?.[1] ?? 0);
        if (buffered.length < end + 4 + length) return;
        const head = buffered.slice(0, end);
        const body = Buffer.from(buffered.slice(end + 4, end + 4 + length), "latin1").toString("utf8");
        buffered = buffered.slice(end + 4 + length);
        stats.requests++;
        const model = (/"model":"([^"]*)"/.exec(body)?.[1] ?? "");
        void answer(socket, { head, body, model });
      }
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  const port = (server.address() as net.AddressInfo).port;
  return { baseUrl: `http://127.0.0.1:${port}/v1`, port, stats };
}

/** A forward proxy that speaks CONNECT only, as corporate proxies do for https; it records each tunnel's target. */
export async function connectProxy(t: ExecutionContext) {
  const tunnels: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((_request, response) => {
    response.writeHead(405).end();
  });
  server.on("connect", (request: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    tunnels.push(request.url ?? "");
    sockets.add(client);
    const [host, port] = splitHostPort(request.url ?? "");
    const target = net.connect(port, host, () => {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      if (head.length > 0) target.write(head);
      target.pipe(client);
      client.pipe(target);
    });
    sockets.add(target);
    target.on("error", () => client.destroy());
    client.on("error", () => target.destroy());
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, tunnels };
}

function splitHostPort(authority: string): [string, number] {
  const colon = authority.lastIndexOf(":");
  return [authority.slice(0, colon).replace(/^\[|\]$/g, ""), Number(authority.slice(colon + 1))];
}

/**
 * A loopback port where connecting hangs, as a firewalled host does: a listener (in Python, which
 * does not accept by itself) whose accept queue is full, so the kernel drops every further SYN.
 */
export async function blackholePort(t: ExecutionContext): Promise<number> {
  const script = "import socket,sys,time\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(3600)\n";
  const child = spawn("python3", ["-c", script], { stdio: ["ignore", "pipe", "inherit"] });
  t.teardown(() => child.kill("SIGKILL"));
  const [line] = (await once(child.stdout, "data")) as [Buffer];
  const port = Number(line.toString().trim());
  const fillers: net.Socket[] = [];
  t.teardown(() => {
    for (const socket of fillers) socket.destroy();
  });
  // Connections the kernel completes queue up unaccepted; once the queue is full, a connect hangs.
  for (let attempt = 0; attempt < 16; attempt++) {
    const socket = net.connect(port, "127.0.0.1");
    socket.on("error", () => {});
    fillers.push(socket);
    const connected = await Promise.race([once(socket, "connect").then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 500))]);
    if (!connected) return port;
  }
  throw new Error("the listener's accept queue never filled up");
}
