"""Streams one chat completion from an IIR router with grpcio and buf-generated stubs.

Generate the stubs first, from the repository root (needs protoc's python plugin and
grpc_python_plugin: Debian's protobuf-compiler and protobuf-compiler-grpc):

    npx buf generate --template buf.gen.python.yaml -o examples/python/gen

then, with `npm start` running:

    python3 examples/python/chat_stream.py --model local/iir-tiny "Say hello"

Text deltas go to stdout as they arrive; the finish reason, the backend that served and the token
usage go to stderr. The exit code is 1 when the call fails (its gRPC status is printed).
"""

import argparse
import os
import sys

import grpc


def load_stubs(stubs_dir):
    """Imports the generated inference stubs from stubs_dir (added to the end of sys.path).

    grpc is imported first: the generated folder also holds a `grpc` package (health and reflection
    stubs) that must not shadow grpcio itself.
    """
    if not os.path.isdir(os.path.join(stubs_dir, "iir", "inference", "v1")):
        sys.exit(f"no generated stubs in {stubs_dir}: run npx buf generate --template buf.gen.python.yaml -o {stubs_dir}")
    sys.path.append(stubs_dir)
    from iir.inference.v1 import inference_pb2, inference_pb2_grpc  # noqa: PLC0415 (needs the path above)

    return inference_pb2, inference_pb2_grpc


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description="Stream a chat completion from an IIR router over gRPC.")
    parser.add_argument("prompt", nargs="?", default="Say hello")
    parser.add_argument("--target", default="localhost:50051", help="router host:port (default localhost:50051)")
    parser.add_argument("--model", default="local/iir-tiny", help="a registry name or <provider>/<model>")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=60.0, help="deadline of the call in seconds")
    parser.add_argument("--stubs", default=os.path.join(here, "gen"), help="folder holding the generated stubs")
    args = parser.parse_args()

    inference_pb2, inference_pb2_grpc = load_stubs(args.stubs)
    request = inference_pb2.ChatStreamRequest(
        params=inference_pb2.ChatParams(
            model=args.model,
            messages=[inference_pb2.Message(role=inference_pb2.ROLE_USER, text=args.prompt)],
            max_tokens=args.max_tokens,
            stream_options=inference_pb2.StreamOptions(include_usage=True),
        )
    )
    # Needed once the router has API keys (iir keys create): the same key as for the REST facade.
    api_key = os.environ.get("IIR_API_KEY")
    metadata = [("authorization", f"Bearer {api_key}")] if api_key else []

    with grpc.insecure_channel(args.target) as channel:
        stub = inference_pb2_grpc.InferenceServiceStub(channel)
        try:
            for part in stub.ChatStream(request, timeout=args.timeout, metadata=metadata):
                event = part.WhichOneof("event")
                if event == "text":
                    print(part.text.text, end="", flush=True)
                elif event == "usage":
                    print(f"\nusage: {part.usage.prompt_tokens} prompt + {part.usage.completion_tokens} completion tokens", file=sys.stderr)
                elif event == "finish":
                    reason = inference_pb2.FinishReason.Name(part.finish.reason)
                    print(f"\nfinish: {reason} (backend {part.backend}, cached {part.cached})", file=sys.stderr)
        except grpc.RpcError as error:
            print(f"\n{error.code().name}: {error.details()}", file=sys.stderr)
            return 1
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
