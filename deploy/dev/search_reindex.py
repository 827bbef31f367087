#!/usr/bin/env python3
"""Rebuilds the search index of the dev stack (`make reindex`): logs in as
the bootstrap admin (<run dir>/admin.env), calls Search.Reindex and follows
GetIndexStatus until the job is DONE or FAILED. Exit 0 on DONE."""
import argparse
import os
import sys
import time

import grpc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.append(os.path.join(ROOT, "build", "py"))
from gavel.search.v1 import search_pb2, search_pb2_grpc  # noqa: E402
from gavel.users.v1 import users_pb2, users_pb2_grpc  # noqa: E402


def read_env(path):
    out = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.strip().partition("=")
            if k and not k.startswith("#"):
                out[k] = v
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--users", default=os.environ.get("GAVEL_USERS_ADDR", "127.0.0.1:50051"))
    ap.add_argument("--search", default=os.environ.get("GAVEL_SEARCH_ADDR", "127.0.0.1:50054"))
    ap.add_argument("--admin-env", default=os.path.join(os.environ.get("RUN_DIR", os.path.join(
        ROOT, ".run")), "admin.env"))
    ap.add_argument("--reason", default="make reindex")
    a = ap.parse_args()
    env = read_env(a.admin_env)
    users = users_pb2_grpc.UsersStub(grpc.insecure_channel(a.users))
    tok = users.Login(users_pb2.LoginRequest(email=env["GAVEL_ADMIN_EMAIL"],
                                             password=env["GAVEL_ADMIN_PASSWORD"]),
                      timeout=10).tokens.access_token
    md = (("authorization", "Bearer " + tok),)
    search = search_pb2_grpc.SearchStub(grpc.insecure_channel(a.search))
    job = search.Reindex(search_pb2.ReindexRequest(reason=a.reason), metadata=md,
                         timeout=10).job_id
    t0 = time.monotonic()
    while True:
        st = search.GetIndexStatus(search_pb2.GetIndexStatusRequest(job_id=job), metadata=md,
                                   timeout=10).reindex
        print("reindex %d: %s %d/%d" % (job, search_pb2.ReindexStatus.Name(st.status),
                                       st.documents_done, st.documents_total), flush=True)
        if st.status in (search_pb2.REINDEX_STATUS_DONE, search_pb2.REINDEX_STATUS_FAILED):
            break
        time.sleep(1)
    print("reindex %d: %.1f s%s" % (job, time.monotonic() - t0,
                                    "" if not st.error else ": " + st.error))
    return 0 if st.status == search_pb2.REINDEX_STATUS_DONE else 1


if __name__ == "__main__":
    sys.exit(main())
