"""Demo accounts for a new dev stack, created through the public API.

Dealers (bidders) with deposits, sellers and a moderator, so a newcomer
can log in and see a living system. Passwords are generated and written
with the emails to $RUN_DIR/demo-users.txt (never to the repository).
When the auctions daemon runs, a category tree and the sellers' lots join
them: a draft, one waiting for moderation, and two scheduled to open a
little over a minute after loading, for 30 minutes.
"""
import os
import secrets
import string
import sys

import grpc
from gavel.auctions.v1 import auctions_pb2 as apb, auctions_pb2_grpc
from gavel.common.v1 import common_pb2
from gavel.users.v1 import users_pb2, users_pb2_grpc

PEOPLE = [
    # email, display name, company, region, role, deposit (RUB, minor units)
    ("dealer.north@demo.gavel", "Pavel Orlov", "Sever Motors", "Saint Petersburg", "bidder", 1_500_000_000),
    ("dealer.volga@demo.gavel", "Irina Sokolova", "Volga Auto", "Kazan", "bidder", 800_000_000),
    ("dealer.ural@demo.gavel", "Timur Akhmetov", "Ural Cars", "Yekaterinburg", "bidder", 400_000_000),
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


CARS = [
    # seller, title, make, model, year, km, region, start price (RUB, minor units), stage
    ("seller.fleet@demo.gavel", "Toyota Camry 2.5, fleet car, one owner", "Toyota", "Camry", 2020,
     84_000, "Moscow", 150_000_000, "scheduled"),
    ("seller.fleet@demo.gavel", "Kia Rio X-Line, dealer serviced", "Kia", "Rio", 2021, 52_000,
     "Moscow", 95_000_000, "scheduled"),
    ("seller.private@demo.gavel", "Volkswagen Tiguan 2.0 TSI 4Motion", "Volkswagen", "Tiguan",
     2018, 121_000, "Moscow", 180_000_000, "in_review"),
    ("seller.private@demo.gavel", "Lada Vesta SW Cross", "Lada", "Vesta", 2022, 30_000, "Moscow",
     110_000_000, "draft"),
]


def rub(units):
    return common_pb2.Money(currency="RUB", units=units)


def load_lots(addr, admin_md, sellers):
    """Categories and the demo lots, driven through the real lifecycle."""
    auctions = auctions_pb2_grpc.AuctionsStub(grpc.insecure_channel(addr))
    try:
        auctions.Ping(common_pb2.PingRequest(), timeout=2)
    except grpc.RpcError:
        return  # the auctions daemon is not built or not running
    def cat(parent, name, slug):
        return auctions.CreateCategory(apb.CreateCategoryRequest(
            parent_id=parent, name=name, slug=slug), metadata=admin_md).category.id
    root = cat(0, "Cars", "cars")
    sedans = cat(cat(root, "Passenger", "passenger"), "Sedans", "sedans")
    cat(root, "SUVs", "suvs")
    start = auctions.Ping(common_pb2.PingRequest()).server_time_us + 70_000_000
    for i, (email, title, make, model, year, km, region, price, stage) in enumerate(CARS):
        seller_md = sellers[email]
        lot = auctions.CreateLot(apb.CreateLotRequest(
            idempotency_key="demo-lot-%d" % i, lot=apb.Lot(
                title=title, make=make, model=model, year=year, mileage_km=km, region=region,
                category_id=sedans, start_price=rub(price), soft_close_window_seconds=120,
                max_extensions=10)), metadata=seller_md).lot
        if stage == "draft":
            continue
        auctions.SubmitLot(apb.SubmitLotRequest(lot_id=lot.id), metadata=seller_md)
        if stage == "in_review":
            continue
        auctions.ModerateLot(apb.ModerateLotRequest(
            lot_id=lot.id, decision=apb.MODERATION_DECISION_APPROVE), metadata=admin_md)
        auctions.ScheduleLot(apb.ScheduleLotRequest(lot_id=lot.id, starts_at_us=start),
                             metadata=admin_md)
    print("demo lots loaded: two open for bids in about a minute, for 30 minutes")


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
    sellers = {}
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
        if role == "seller":
            tok = users.Login(users_pb2.LoginRequest(email=email, password=pw)).tokens
            sellers[email] = [("authorization", "Bearer " + tok.access_token)]
    if lines:
        path = os.path.join(run_dir, "demo-users.txt")
        with open(path, "a") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(path, 0o600)
        print(f"demo accounts written to {path}")
    if len(sellers) == len({c[0] for c in CARS}):  # first load only
        auctions_addr = os.environ.get("GAVEL_AUCTIONS_ADDR") or "127.0.0.1:%d" % (
            int(os.environ.get("GAVEL_PORT_BASE_GRPC", "50050")) + 2)
        load_lots(auctions_addr, md, sellers)


if __name__ == "__main__":
    sys.exit(main())
