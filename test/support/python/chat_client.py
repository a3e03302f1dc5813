"""Calls one gRPC method of an IIR node with grpcio and buf-generated stubs, for cross-language tests.

Usage: chat_client.py --stubs DIR [--timeout S] [--metadata KEY=VALUE]... TARGET METHOD JSON

TARGET is host:port (plaintext h2c), METHOD is `package.Service/Method`
(e.g. iir.inference.v1.InferenceService/ChatStream), JSON is the request in proto3 JSON.
Prints one JSON line per response message, {"message": {...}}, and on an RPC error one line
{"error": {"code": "NOT_FOUND", "details": "..."}}; exits 0 either way. Any other exit code means
the script itself failed (bad arguments, stubs missing).
"""

import argparse
import importlib
import json
import os
import sys

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message


def load_stubs(stubs_dir):
    """Imports every generated *_pb2_grpc module; returns {service full name: (pb2 module, Stub class)}."""
    sys.path.insert(0, stubs_dir)
    # The generated grpc/health and grpc/reflection packages share their top-level name with grpcio
    # itself; grafting the stub folder onto grpc's own package path lets `grpc.health.v1` resolve.
    grpc.__path__.append(os.path.join(stubs_dir, "grpc"))
    services = {}
    for root, _dirs, files in os.walk(stubs_dir):
        for name in files:
            if not name.endswith("_pb2_grpc.py"):
                continue
            package = os.path.relpath(root, stubs_dir).replace(os.sep, ".")
            grpc_module = importlib.import_module(f"{package}.{name[:-3]}")
            pb2_module = importlib.import_module(f"{package}.{name[:-len('_grpc.py')]}")
            for service in pb2_module.DESCRIPTOR.services_by_name.values():
                services[service.full_name] = (pb2_module, getattr(grpc_module, f"{service.name}Stub"))
    return services


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stubs", required=True, help="folder holding the buf-generated Python stubs")
    parser.add_argument("--timeout", type=float, default=30.0, help="deadline of the call in seconds")
    parser.add_argument("--metadata", action="append", default=[], help="KEY=VALUE sent as call metadata")
    parser.add_argument("target")
    parser.add_argument("method")
    parser.add_argument("request")
    args = parser.parse_args()

    service_name, _, method_name = args.method.partition("/")
    services = load_stubs(args.stubs)
    if service_name not in services:
        parser.error(f"no stub for service {service_name}; known: {sorted(services)}")
    pb2_module, stub_class = services[service_name]
    method = pb2_module.DESCRIPTOR.services_by_name[service_name.rsplit(".", 1)[-1]].methods_by_name.get(method_name)
    if method is None:
        parser.error(f"{service_name} has no method {method_name}")
    request = json_format.Parse(args.request, getattr(pb2_module, method.input_type.name)())
    metadata = [tuple(entry.split("=", 1)) for entry in args.metadata]

    with grpc.insecure_channel(args.target) as channel:
        call = getattr(stub_class(channel), method_name)
        try:
            result = call(request, timeout=args.timeout, metadata=metadata)
            responses = [result] if isinstance(result, Message) else result
            for response in responses:
                print(json.dumps({"message": json_format.MessageToDict(response)}), flush=True)
        except grpc.RpcError as error:
            print(json.dumps({"error": {"code": error.code().name, "details": error.details()}}), flush=True)


if __name__ == "__main__":
    main()
