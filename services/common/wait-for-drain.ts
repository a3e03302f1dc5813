/** A response (HTTP/1.1 or HTTP/2) whose buffered writes can be waited out. */
interface DrainableResponse {
  once(event: "drain" | "close", listener: () => void): unknown;
  off(event: "drain" | "close", listener: () => void): unknown;
}

/**
 * Resolves when a response whose write returned false has drained, or when it closed, so a client
 * that went away cannot leave a stream waiting forever.
 */
export function waitForDrain(response: DrainableResponse): Promise<void> {
  return new Promise((resolve) => {
    const settle = () => {
      response.off("drain", settle);
      response.off("close", settle);
      resolve();
    };
    response.once("drain", settle);
    response.once("close", settle);
  });
}
