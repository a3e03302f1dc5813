import http from "node:http";
import net from "node:net";
import { once } from "node:events";
import { setImmediate as nextTurn } from "node:timers/promises";
import test from "ava";
import { endAtTurnEnd, holdWritesUntilTurnEnds } from "./turn-batched-writes.js";

/** A loopback server that records what each connection sent, and `count` clients connected to it. */
async function connectedPairs(count: number) {
  const received: string[] = [];
  const server = net.createServer((socket) => {
    const index = received.push("") - 1;
    socket.setEncoding("utf8");
    socket.on("data", (text: string) => (received[index] += text));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as net.AddressInfo;
  const clients: net.Socket[] = [];
  for (let i = 0; i < count; i++) {
    const client = net.connect(port, "127.0.0.1");
    await once(client, "connect");
    clients.push(client);
    // The server numbers connections in the order it accepts them: wait for each.
    while (received.length <= i) await nextTurn();
  }
  const close = () => {
    for (const client of clients) client.destroy();
    server.close();
  };
  return { received, clients, close };
}

async function until(condition: () => boolean): Promise<void> {
  for (let turn = 0; !condition(); turn++) {
    if (turn > 10_000) throw new Error("timed out");
    await nextTurn();
  }
}

test("writes held in a turn stay buffered until it ends, then go out in order", async (t) => {
  const { received, clients, close } = await connectedPairs(2);
  t.teardown(close);
  const [a, b] = clients as [net.Socket, net.Socket];
  holdWritesUntilTurnEnds(a);
  a.write("1");
  holdWritesUntilTurnEnds(b);
  b.write("2");
  holdWritesUntilTurnEnds(a);
  a.write("3");
  t.is(a.writableCorked, 2);
  t.is(b.writableCorked, 1);
  t.is(a.writableLength, 2, "nothing of a's went to the kernel yet");
  t.is(b.writableLength, 1);
  await nextTurn();
  t.is(a.writableCorked, 0, "every hold was let go");
  t.is(b.writableCorked, 0);
  await until(() => received[0] === "13" && received[1] === "2");
  t.pass();
});

test("a socket destroyed while held does not keep the others back", async (t) => {
  const { received, clients, close } = await connectedPairs(2);
  t.teardown(close);
  const [a, b] = clients as [net.Socket, net.Socket];
  holdWritesUntilTurnEnds(a);
  a.write("lost");
  holdWritesUntilTurnEnds(b);
  b.write("kept");
  a.destroy();
  await nextTurn();
  t.is(b.writableCorked, 0);
  await until(() => received[1] === "kept");
  t.is(received[0], "");
});

test("a hold taken while held sockets are being let go is let go in the next turn", async (t) => {
  const { received, clients, close } = await connectedPairs(1);
  t.teardown(close);
  const [a] = clients as [net.Socket];
  holdWritesUntilTurnEnds(a);
  a.write("first ");
  // Queued after the flush of this turn: runs in the same check phase, once the flush is done.
  setImmediate(() => {
    t.is(a.writableCorked, 0);
    holdWritesUntilTurnEnds(a);
    a.write("second");
    t.is(a.writableCorked, 1);
  });
  await until(() => received[0] === "first second");
  t.is(a.writableCorked, 0);
});

/** A server whose handler is given each response, answered by the test. */
async function httpServer(onRequest: (response: http.ServerResponse) => void) {
  const server = http.createServer((_request, response) => onRequest(response));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as net.AddressInfo;
  const agent = new http.Agent({ keepAlive: true });
  const get = () =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      http
        .get({ host: "127.0.0.1", port, agent }, (response) => {
          let body = "";
          response.setEncoding("utf8");
          response.on("data", (text: string) => (body += text));
          response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
        })
        .on("error", reject);
    });
  const close = () => {
    agent.destroy();
    server.closeAllConnections();
    server.close();
  };
  return { get, close };
}

test("responses ended in a turn are ended at its end, all of them, with their bodies", async (t) => {
  const waiting: http.ServerResponse[] = [];
  const { get, close } = await httpServer((response) => waiting.push(response));
  t.teardown(close);
  const answers = [get(), get(), get()];
  await until(() => waiting.length === 3);
  const states: boolean[] = [];
  waiting.forEach((response, index) => {
    response.writeHead(200 + index, { "content-type": "text/plain" });
    endAtTurnEnd(response, `answer ${index}`);
    states.push(response.writableEnded);
  });
  t.deepEqual(states, [false, false, false], "nothing ends before the turn does");
  await nextTurn();
  t.true(waiting.every((response) => response.writableEnded));
  t.deepEqual(await Promise.all(answers), [0, 1, 2].map((index) => ({ status: 200 + index, body: `answer ${index}` })));
});

test("a response ended twice in a turn keeps its first ending, and the server keeps serving", async (t) => {
  let calls = 0;
  const { get, close } = await httpServer((response) => {
    calls++;
    response.writeHead(200);
    endAtTurnEnd(response, "first");
    endAtTurnEnd(response, "second");
  });
  t.teardown(close);
  t.deepEqual(await get(), { status: 200, body: "first" });
  t.deepEqual(await get(), { status: 200, body: "first" });
  t.is(calls, 2);
});

test("writes held on a response's socket go out before its ending, in order", async (t) => {
  const { get, close } = await httpServer((response) => {
    response.writeHead(200, { "content-type": "text/event-stream" });
    holdWritesUntilTurnEnds(response.socket!);
    response.write("data: 1\n\n");
    holdWritesUntilTurnEnds(response.socket!);
    response.write("data: 2\n\n");
    endAtTurnEnd(response, "data: [DONE]\n\n");
  });
  t.teardown(close);
  t.deepEqual(await get(), { status: 200, body: "data: 1\n\ndata: 2\n\ndata: [DONE]\n\n" });
});
