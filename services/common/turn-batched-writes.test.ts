import net from "node:net";
import { once } from "node:events";
import { setImmediate as nextTurn } from "node:timers/promises";
import test from "ava";
import { holdWritesUntilTurnEnds } from "./turn-batched-writes.js";

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
