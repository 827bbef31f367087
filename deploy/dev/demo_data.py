"""Demo accounts for a new dev stack, created through the public API.

Dealers (bidders) with deposits, sellers and a moderator, so a newcomer
can log in and see a living system. Passwords are generated and written
with the emails to $RUN_DIR/demo-users.txt (never to the repository).
Lots, categories and bids join here as their services land.
"""
import os
import secrets
import string
import sys

import grpc
from gavel.common.v1 import common_pb2
from gavel.users.v1 import users_pb2, users_pb2_grpc

PEOPLE = [
    # email, display name, company, region, role, deposit (RUB, minor units)
    ("dealer.north@demo.gavel", "Pavel Orlov", "Sever Motors", "Saint Petersburg", "bidder", 150_000_000),
    ("dealer.volga@demo.gavel", "Irina Sokolova", "Volga Auto", "Kazan", "bidder", 80_000_000),
    ("dealer.ural@demo.gavel", "Timur Akhmetov", "Ural Cars", "Yekaterinburg", "bidder", 40_000_000),
    ("seller.fleet@demo.gavel", "Anna Lebedeva", "Fleet Remarketing", "Moscow", "seller", 0),
    ("seller.private@demo.gavel", "Oleg Petrov", "", "Moscow", "seller", 0),
    ("moderator@demo.gavel", "Maria Kuznetsova", "Gavel", "Moscow", "moderator", 0),
]


def password():
    alphabet = string.ascii_letters + string.digits
    while True:
        pw = "".join(secrets.choice(alphabet) for _ in range(16))
        if any(c.isdigit() for c in pw) and any(c.isalpha() for c in pw):
            return pw


def main():
    run_dir = os.environ["RUN_DIR"]
    addr = os.environ.get("GAVEL_USERS_ADDR") or "127.0.0.1:%d" % (
        int(os.environ.get("GAVEL_PORT_BASE_GRPC", "50050")) + 1)
    creds = dict(l.strip().split("=", 1) for l in open(os.path.join(run_dir, "admin.env")) if "=" in l)
    ch = grpc.insecure_channel(addr)
    users, wallet = users_pb2_grpc.UsersStub(ch), users_pb2_grpc.WalletStub(ch)
    admin = users.Login(users_pb2.LoginRequest(email=creds["GAVEL_ADMIN_EMAIL"],
                                               password=creds["GAVEL_ADMIN_PASSWORD"]))
    md = [("authorization", "Bearer " + admin.tokens.access_token)]
    lines = []
    for email, name, company, region, role, deposit in PEOPLE:
        pw = password()
        base_role = users_pb2.ROLE_SELLER if role == "seller" else users_pb2.ROLE_BIDDER
        try:
            r = users.Register(users_pb2.RegisterRequest(
                email=email, password=pw, role=base_role, display_name=name,
                company=company, region=region))
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.ALREADY_EXISTS:
                continue  # loaded before; keep the existing password
            raise
        uid = r.profile.user_id
        if role == "moderator":
            users.UpdateProfile(users_pb2.UpdateProfileRequest(
                user_id=uid, update_mask=["role"], role=users_pb2.ROLE_MODERATOR), metadata=md)
        if deposit:
            wallet.Deposit(users_pb2.DepositRequest(
                idempotency_key="demo-deposit-" + email, user_id=uid,
                amount=common_pb2.Money(currency="RUB", units=deposit),
                reference="demo bank transfer"), metadata=md)
        lines.append(f"{role:10} {email:28} {pw}")
    if lines:
        path = os.path.join(run_dir, "demo-users.txt")
        with open(path, "a") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(path, 0o600)
        print(f"demo accounts written to {path}")


if __name__ == "__main__":
    sys.exit(main())
