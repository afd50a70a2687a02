"""Offline evaluation of the suggestions ranker against simple baselines, on simulated deals.

A simulator of buying committees (written here, sharing no code or constants with
dealroom/suggestions.py) generates who opens what, when:

  * an organisation sells through D deals, started a few days apart, each with a committee of
    4-6 people whose roles have different interests (topics they care about);
  * every deal uses the same library of documents, each with a topic, the stage it serves,
    the roles it is written for, and a quality (how much people like it);
  * the deal's stage advances over the weeks (discovery -> evaluation -> decision);
  * each person's interest drifts week by week; colleagues influence each other (what a
    colleague read recently is more likely to be opened next); people rarely open a document
    twice.

The events are replayed in time order into a real database (the rollups tracking would leave
behind). Before each document opening, each method proposes 3 documents for that person, and
we score hit-rate@3 (the opened document is among them) and nDCG@3:

  ranker        dealroom.suggestions.suggest(), reading the database as the app does
  seller order  the first 3 not yet opened, in the room's order
  most popular  the 3 most opened so far across the organisation, not yet opened by the person
  random        3 random documents not yet opened

    .venv/bin/python bench/suggestions_eval.py [--deals N] [--seed S]
"""

from __future__ import annotations

import math
import random
import shutil
import sys
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


from dealroom import accounts, content, invites, rooms, suggestions, tracking  # noqa: E402
from dealroom.db import Database, pk  # noqa: E402
from dealroom.migrate import upgrade  # noqa: E402

# ---------------------------------------------------------------- the simulator's world

PARAMS = {
    "seed": 20261122,
    "deals": 12,
    "deal_start_gap_days": 4,
    "weeks_per_stage": 3,
    "committee_size": (4, 6),
    "sessions_per_person_per_week": 1.4,
    "opens_per_session": (1, 2),
    "topics": 6,
    "documents_per_topic": 4,
    "quality_range": (0.3, 1.0),
    "stage_match_boost": 4.0,  # a document for the deal's current stage
    "stage_ahead_penalty": 0.25,  # a document for a later stage than the deal's
    "role_match_boost": 3.0,
    "topic_interest_spread": 2.0,  # how much roles differ in the topics they care about
    "weekly_interest_drift": 0.25,
    "colleague_influence": 1.5,  # per colleague who opened it in the last 14 days
    "read_minutes": (2, 20),
}
ROLE_NAMES = (
    "champion",
    "economic_buyer",
    "technical_evaluator",
    "legal_procurement",
    "end_user",
)
STAGE_NAMES = ("discovery", "evaluation", "decision")


@dataclass
class Doc:
    n: int
    title: str
    topic: int
    stage: str
    roles: tuple[str, ...]
    quality: float


@dataclass
class Person:
    deal: int
    n: int
    role: str
    interest: list[float]


@dataclass
class Opening:
    at: datetime
    deal: int
    person: int  # index in the deal's committee
    doc: int
    minutes: int


@dataclass
class SimDeal:
    n: int
    start: datetime
    people: list[Person] = field(default_factory=list)

    def stage(self, at: datetime) -> str:
        weeks = (at - self.start).days / 7
        return STAGE_NAMES[min(len(STAGE_NAMES) - 1, int(weeks // PARAMS["weeks_per_stage"]))]


def make_world(rng: random.Random) -> tuple[list[Doc], list[SimDeal]]:
    docs = []
    for topic in range(PARAMS["topics"]):
        for k in range(PARAMS["documents_per_topic"]):
            roles = tuple(sorted(rng.sample(ROLE_NAMES, rng.choice((1, 2)))))
            docs.append(
                Doc(
                    len(docs),
                    f"Topic {topic} doc {k}",
                    topic,
                    rng.choice(STAGE_NAMES),
                    roles,
                    rng.uniform(*PARAMS["quality_range"]),
                )
            )
    role_taste = {
        role: [
            math.exp(rng.gauss(0, 1) * PARAMS["topic_interest_spread"] / 2)
            for _ in range(PARAMS["topics"])
        ]
        for role in ROLE_NAMES
    }
    origin = datetime(2026, 1, 5, 9, tzinfo=UTC)
    deals = []
    for d in range(PARAMS["deals"]):
        deal = SimDeal(d, origin + timedelta(days=d * PARAMS["deal_start_gap_days"]))
        size = rng.randint(*PARAMS["committee_size"])
        roles = rng.sample(ROLE_NAMES, min(size, len(ROLE_NAMES)))
        roles += [rng.choice(ROLE_NAMES) for _ in range(size - len(roles))]
        for n, role in enumerate(roles):
            deal.people.append(
                Person(d, n, role, [t * rng.uniform(0.7, 1.3) for t in role_taste[role]])
            )
        deals.append(deal)
    return docs, deals


def simulate(rng: random.Random, docs: list[Doc], deals: list[SimDeal]) -> list[Opening]:
    """Who opens what, when: sessions day by day, choices by the committee model."""
    openings: list[Opening] = []
    weeks = PARAMS["weeks_per_stage"] * len(STAGE_NAMES)
    for deal in deals:
        opened: dict[int, set[int]] = defaultdict(set)  # person -> docs
        recent: list[tuple[datetime, int, int]] = []  # (at, person, doc) in this deal
        sessions = []
        for person in deal.people:
            count = int(PARAMS["sessions_per_person_per_week"] * weeks)
            for _ in range(count):
                sessions.append((deal.start + timedelta(days=rng.uniform(0, weeks * 7)), person))
        sessions.sort(key=lambda s: s[0])
        for at, person in sessions:
            week = int((at - deal.start).days // 7)
            drift = [
                i * math.exp(rng.gauss(0, PARAMS["weekly_interest_drift"]) * (week > 0))
                for i in person.interest
            ]
            person.interest = drift
            stage = deal.stage(at)
            for _ in range(rng.randint(*PARAMS["opens_per_session"])):
                weights = []
                for doc in docs:
                    if doc.n in opened[person.n]:
                        weights.append(0.0)
                        continue
                    w = doc.quality * person.interest[doc.topic]
                    if doc.stage == stage:
                        w *= PARAMS["stage_match_boost"]
                    elif STAGE_NAMES.index(doc.stage) > STAGE_NAMES.index(stage):
                        w *= PARAMS["stage_ahead_penalty"]
                    if person.role in doc.roles:
                        w *= PARAMS["role_match_boost"]
                    colleagues = {
                        p
                        for t, p, d in recent
                        if d == doc.n and p != person.n and at - t < timedelta(days=14)
                    }
                    w *= 1 + PARAMS["colleague_influence"] * len(colleagues)
                    weights.append(w)
                if not any(weights):
                    break
                choice = rng.choices(range(len(docs)), weights=weights)[0]
                opened[person.n].add(choice)
                recent.append((at, person.n, choice))
                openings.append(
                    Opening(at, deal.n, person.n, choice, rng.randint(*PARAMS["read_minutes"]))
                )
                at += timedelta(minutes=25)
    openings.sort(key=lambda o: o.at)
    return openings


# ---------------------------------------------------------------- replay and scoring


def dcg(rank: int | None) -> float:
    return 0.0 if rank is None else 1 / math.log2(rank + 2)


def main(seed: int, deals_count: int) -> None:
    PARAMS["seed"], PARAMS["deals"] = seed, deals_count
    rng = random.Random(seed)
    docs, deals = make_world(rng)
    openings = simulate(rng, docs, deals)
    print("simulator parameters:")
    for key, value in PARAMS.items():
        print(f"  {key} = {value}")
    print(
        f"  documents = {len(docs)}, people = {sum(len(d.people) for d in deals)}, openings = {len(openings)}"
    )

    tmp = Path(tempfile.mkdtemp(prefix="dealroom-eval-"))
    try:
        url = f"sqlite:///{tmp / 'eval.db'}"
        upgrade(url)
        db = Database.from_url(url)
        from dealroom.app import build_services
        from dealroom.settings import load_settings

        services = build_services(
            load_settings(
                environ={},
                dotenv=None,
                secret_key="eval-secret-0123456789-abcdefghijklmnop",
                storage_dir=str(tmp / "files"),
                run_jobs=False,
            ),
            db=db,
        )
        with db.session() as session:
            user = accounts.create_user(
                session, email="eval@northwind.example", password="eval-password-1", org_name="Eval"
            )
            library = [
                content.create_link_document(
                    session,
                    user=user,
                    url=f"https://docs.example/{d.n}",
                    title=d.title,
                    stages_=d.stage,
                    roles_=",".join(d.roles),
                )
                for d in docs
            ]
            org_id = user.org_id
            room_ids, people_ids, item_ids = {}, {}, {}
            doc_of: dict[str, int] = {}
            # The seller's order: by topic, as a library is usually arranged.
            for deal in deals:
                room = rooms.create_room(
                    session,
                    user=user,
                    data={"name": f"Deal {deal.n}", "buyer_company": f"Buyer {deal.n}"},
                )
                room_ids[deal.n] = pk(room)
                for doc, document in zip(docs, library, strict=True):
                    item = content.place(session, room=room, document=document, user=user)
                    item_ids[(deal.n, doc.n)] = pk(item)
                    doc_of[item.public_id] = doc.n
                for person in deal.people:
                    invite = invites.create_invite(
                        session,
                        room=room,
                        seller=user,
                        email=f"p{person.n}@buyer{deal.n}.example",
                        role=person.role,
                        links=services.links,
                        renderer=services.mail,
                        send=False,
                    )
                    people_ids[(deal.n, person.n)] = pk(invite)
        hits: dict[str, int] = Counter()
        gains: dict[str, float] = defaultdict(float)
        total = 0
        popular: Counter[int] = Counter()
        seen: dict[tuple[int, int], set[int]] = defaultdict(set)
        pick = random.Random(seed + 1)
        for opening in openings:
            deal = deals[opening.deal]
            key = (opening.deal, opening.person)
            unopened = [d.n for d in docs if d.n not in seen[key]]
            if len(unopened) >= 5:
                total += 1
                with db.session() as session:
                    room = session.get(rooms.Room, room_ids[opening.deal])
                    invite = session.get(invites.Invite, people_ids[key])
                    assert room is not None and invite is not None
                    room.stage = deal.stage(opening.at)
                    session.flush()
                    found = suggestions.suggest(
                        session, room=room, invite=invite, now=opening.at, holdout_percent=0
                    )
                    ranked = [doc_of[x.content_id] for x in found.items]
                proposals = {
                    "ranker": ranked,
                    "seller order": unopened[:3],
                    "most popular": sorted(unopened, key=lambda d: (-popular[d], d))[:3],
                    "random": pick.sample(unopened, 3),
                }
                for name, top in proposals.items():
                    rank = top.index(opening.doc) if opening.doc in top else None
                    hits[name] += rank is not None
                    gains[name] += dcg(rank)
            seen[key].add(opening.doc)
            popular[opening.doc] += 1
            with db.session() as session:
                session.add(
                    tracking.ViewerItemStat(
                        org_id=org_id,
                        room_id=room_ids[opening.deal],
                        invite_id=people_ids[key],
                        room_item_id=item_ids[(opening.deal, opening.doc)],
                        active_seconds=opening.minutes * 60,
                        opens=1,
                        visits_opened=1,
                        first_at=opening.at,
                        last_at=opening.at,
                    )
                )
        db.dispose()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nevaluated openings: {total} (a person with at least 5 unopened documents)")
    print(f"{'method':<14}{'hit-rate@3':>12}{'nDCG@3':>10}")
    for name in ("ranker", "seller order", "most popular", "random"):
        print(f"{name:<14}{hits[name] / total:>12.3f}{gains[name] / total:>10.3f}")
    best = max(hits["seller order"], hits["most popular"]) / total
    ratio = hits["ranker"] / total / best if best else float("inf")
    print(
        f"\nranker hit-rate@3 / best of seller order and most popular = {ratio:.2f} (target >= 1.3)"
    )


if __name__ == "__main__":
    argv = sys.argv[1:]
    seed = int(argv[argv.index("--seed") + 1]) if "--seed" in argv else PARAMS["seed"]
    deals = int(argv[argv.index("--deals") + 1]) if "--deals" in argv else PARAMS["deals"]
    main(int(seed), int(deals))
