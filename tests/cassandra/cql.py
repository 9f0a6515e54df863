#!/usr/bin/python3
"""Run CQL statements with the Python driver and print their rows.

Part of kask's test infrastructure (see tests/cassandra/README.md). Talks
protocol v4 to Cassandra 4.1 or 5.0, as user cassandra/cassandra unless told
otherwise, and sends every request to the one host given (no other node is
used as coordinator). Several statements run in order on one session (one
login), so that a statement may change what a later login would need.

Output: one line per row, columns separated by tabs; blobs as 0x<hex>,
nulls as "null". --header prints the column names first.
Exit codes: 0 done, 1 a statement or the connection failed, 2 usage.
"""

import argparse
import logging
import ssl
import sys
import time

from cassandra import ConsistencyLevel
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
from cassandra.policies import WhiteListRoundRobinPolicy


def cell(value):
    if value is None:
        return "null"
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    return str(value)


def tls_context(args):
    if not args.tls_ca:
        return None
    context = ssl.create_default_context(cafile=args.tls_ca)
    # The test nodes' certificates name them by host name; the driver
    # connects by address, so only the chain is checked here.
    context.check_hostname = False
    if args.tls_cert:
        context.load_cert_chain(args.tls_cert, args.tls_key)
    return context


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("statements", nargs="+", metavar="statement")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9042)
    parser.add_argument("--user", default="cassandra")
    parser.add_argument("--password", default="cassandra")
    parser.add_argument("--consistency", default="ONE",
                        choices=sorted(ConsistencyLevel.name_to_value))
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="seconds for connecting and for the statement")
    parser.add_argument("--header", action="store_true")
    parser.add_argument("--retries", type=int, default=0,
                        help="retry a failed statement this many times, 1 s apart")
    parser.add_argument("--tls-ca", help="PEM CA: connect with TLS, verify the node against it")
    parser.add_argument("--tls-cert", help="PEM client certificate (with --tls-key)")
    parser.add_argument("--tls-key", help="PEM client key")
    args = parser.parse_args()

    # The driver's warnings (e.g. about peers it will not use) are noise here.
    logging.getLogger("cassandra").setLevel(logging.ERROR)
    profile = ExecutionProfile(
        load_balancing_policy=WhiteListRoundRobinPolicy([args.host]),
        consistency_level=ConsistencyLevel.name_to_value[args.consistency],
        request_timeout=args.timeout,
    )
    cluster = Cluster(
        [args.host],
        port=args.port,
        protocol_version=4,
        ssl_context=tls_context(args),
        auth_provider=PlainTextAuthProvider(args.user, args.password),
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        connect_timeout=args.timeout,
        control_connection_timeout=args.timeout,
    )
    try:
        session = cluster.connect()
        for statement in args.statements:
            for attempt in range(args.retries + 1):
                try:
                    result = session.execute(statement)
                    break
                except Exception:  # retried as a whole: the caller asked for it
                    if attempt == args.retries:
                        raise
                    time.sleep(1)
            if args.header and result.column_names:
                print("\t".join(result.column_names))
            for row in result:
                print("\t".join(cell(v) for v in row))
    except Exception as error:  # every driver error means the same to the caller
        print(f"cql: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    finally:
        cluster.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
