"""A gRPC front for the Firestore emulator that refuses, as Firestore does, a query no index serves.

    python -m infra.local.firestore_front --port P --upstream 127.0.0.1:Q [--indexes FILE]

The emulator runs every query; real Firestore answers FAILED_PRECONDITION "The query requires an
index" to one that needs a composite index nobody created, and the deploy creates only those of
infra/firestore/indexes.json. The stack points FIRESTORE_EMULATOR_HOST here, so every client (the
functions, the tests) goes through this front. Each RPC is forwarded to the emulator as raw bytes,
in both directions, with its metadata and deadline, streaming ones as streams; only RunQuery and
RunAggregationQuery requests are parsed, checked (infra/local/firestore_index_rule.py) and refused
when the index file lacks their index. The file is re-read when it changes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from concurrent import futures
from pathlib import Path

import grpc

from infra.firestore import indexes as index_file
from infra.local import firestore_index_rule as rule

LOG = logging.getLogger("firestore_front")
SERVICE = "/google.firestore.v1.Firestore/"
# Cardinalities of the Firestore RPCs (google/firestore/v1/firestore.proto; the client's gRPC
# transport has the same table). Everything else (GetDocument, Commit, BeginTransaction, ...,
# google.longrunning.Operations) is unary-unary.
UNARY_STREAM = frozenset({"BatchGetDocuments", "RunQuery", "RunAggregationQuery", "ExecutePipeline"})
STREAM_STREAM = frozenset({"Write", "Listen"})
CHECKED = frozenset({"RunQuery", "RunAggregationQuery"})
# Headers gRPC sets itself per hop; forwarding them would duplicate or contradict the new call's.
HOP_HEADERS = frozenset({"user-agent", "te", "content-type", "grpc-timeout", "grpc-encoding",
                         "grpc-accept-encoding", "authority"})
# Firestore accepts requests up to 10 MiB and documents up to 1 MiB; the emulator has no lower limit.
# gRPC's 4 MiB default would refuse in the front what both ends accept. Never share the port: with
# SO_REUSEPORT (gRPC's default on Linux) a stale front would silently take half the connections.
OPTIONS = (("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1))
SERVER_OPTIONS = OPTIONS + (("grpc.so_reuseport", 0),)
# A streaming RPC holds a worker for its whole life, and the functions run 8-16 threads each.
MAX_WORKERS = 64
# Above this, a "remaining time" means "no deadline" (see _timeout).
NO_DEADLINE_SECONDS = 365 * 24 * 3600.0


class IndexFile:
    """The index file's composite indexes, re-read when its modification time changes."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: float | None = None
        self._indexes: tuple[index_file.Index, ...] = ()

    def current(self) -> tuple[index_file.Index, ...]:
        stamp = os.stat(self.path).st_mtime_ns
        if stamp != self._stamp:
            with self._lock:
                if stamp != self._stamp:
                    self._indexes, self._stamp = index_file.load(self.path), stamp
        return self._indexes


def refusal(needed: index_file.Index, path: Path) -> str:
    """Firestore's message (its first sentence is what clients and people look for), then what to
    add locally instead of the console link Firestore gives."""
    return (f"The query requires an index. Add it to {path.name} (the deploy creates every index there): "
            f"{json.dumps(needed.to_json(), separators=(',', ':'))}")


class _Forwarder(grpc.GenericRpcHandler):
    def __init__(self, channel: grpc.Channel, indexes: IndexFile):
        self._channel = channel
        self._indexes = indexes
        self._handlers: dict[str, grpc.RpcMethodHandler] = {}

    def service(self, details):
        handler = self._handlers.get(details.method)
        if handler is None:
            handler = self._handlers[details.method] = self._make(details.method)
        return handler

    def _make(self, method: str) -> grpc.RpcMethodHandler:
        name = method[len(SERVICE):] if method.startswith(SERVICE) else ""
        if name in STREAM_STREAM:
            call = self._channel.stream_stream(method)
            return grpc.stream_stream_rpc_method_handler(lambda requests, ctx: _stream(call, requests, ctx))
        if name in UNARY_STREAM:
            call = self._channel.unary_stream(method)
            check = self._check if name in CHECKED else None
            return grpc.unary_stream_rpc_method_handler(lambda request, ctx: _stream(call, request, ctx, check, name))
        call = self._channel.unary_unary(method)
        return grpc.unary_unary_rpc_method_handler(lambda request, ctx: _unary(call, request, ctx))

    def _check(self, name: str, raw: bytes, context: grpc.ServicerContext) -> None:
        """Abort with FAILED_PRECONDITION when the query's index is missing from the file."""
        from google.cloud.firestore_v1.types import firestore as types

        if name == "RunQuery":
            request = types.RunQueryRequest.pb().FromString(raw)
            has_query = request.HasField("structured_query")
            message = request.structured_query
        else:
            request = types.RunAggregationQueryRequest.pb().FromString(raw)
            has_query = request.HasField("structured_aggregation_query")
            message = request.structured_aggregation_query.structured_query
        if not has_query:
            return
        try:
            needed = rule.missing_index(rule.from_structured_query(message), self._indexes.current())
        except rule.QueryTooComplex as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        if needed is not None:
            LOG.warning("refused %s on %s: no index %s", name, needed.collection_group, needed.field_specs())
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, refusal(needed, self._indexes.path))


def _timeout(context: grpc.ServicerContext) -> float | None:
    """The caller's deadline for the emulator call. With none, gRPC reports ~9.2e18 s remaining,
    which as a timeout overflows into an immediate DEADLINE_EXCEEDED (Listen streams have none)."""
    remaining = context.time_remaining()
    return remaining if remaining is not None and remaining < NO_DEADLINE_SECONDS else None


def _metadata(context: grpc.ServicerContext) -> tuple:
    return tuple((m.key, m.value) for m in context.invocation_metadata()
                 if m.key not in HOP_HEADERS and not m.key.startswith((":", "grpc-")))


def _unary(call, request: bytes, context: grpc.ServicerContext) -> bytes:
    try:
        return call(request, metadata=_metadata(context), timeout=_timeout(context))
    except grpc.RpcError as exc:
        context.abort(exc.code(), exc.details() or "")


def _stream(call, request, context: grpc.ServicerContext, check=None, name: str = ""):
    if check is not None:
        check(name, request, context)
    responses = call(request, metadata=_metadata(context), timeout=_timeout(context))
    context.add_callback(responses.cancel)  # the client went away: stop the emulator's side too
    try:
        yield from responses
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.CANCELLED or context.is_active():
            context.abort(exc.code(), exc.details() or "")


class FirestoreFront:
    """The front as an object: tests start one in-process (port 0 picks a free port)."""

    def __init__(self, upstream: str, indexes: Path = index_file.INDEX_FILE, host: str = "127.0.0.1",
                 port: int = 0):
        self.indexes = IndexFile(indexes)
        self.indexes.current()  # a malformed file fails at start, not at the first query
        self._channel = grpc.insecure_channel(upstream, options=OPTIONS)
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=MAX_WORKERS),
                                   handlers=[_Forwarder(self._channel, self.indexes)], options=SERVER_OPTIONS)
        self.port = self._server.add_insecure_port(f"{host}:{port}")
        if not self.port:
            raise OSError(f"cannot listen on {host}:{port}")
        self.address = f"{host}:{self.port}"

    def start(self) -> "FirestoreFront":
        self._server.start()
        return self

    def stop(self, grace: float | None = 1.0) -> None:
        self._server.stop(grace).wait()
        self._channel.close()

    def wait(self) -> None:
        self._server.wait_for_termination()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="the emulator, host:port")
    parser.add_argument("--indexes", type=Path, default=index_file.INDEX_FILE)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    front = FirestoreFront(args.upstream, args.indexes, args.host, args.port).start()
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=front.stop, daemon=True).start())
    LOG.info("forwarding %s -> %s, indexes from %s", front.address, args.upstream, args.indexes)
    front.wait()
    return 0


def ready(address: str, timeout: float = 2.0) -> bool:
    """Whether a gRPC server answers at address (the stack's ready check: no HTTP/1.1 to probe)."""
    channel = grpc.insecure_channel(address)
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
        return True
    except grpc.FutureTimeoutError:
        return False
    finally:
        channel.close()


if __name__ == "__main__":
    sys.exit(main())
