"""A deterministic sample source database for the example pipelines: groups, members, events, RSVPs.

Same seed, same rows (about 6,800 in all), so tests can check exact results and the local runtime
always shows the same data::

    load_sample_source("postgresql://postgres@127.0.0.1:55432/sample_source")
    load_sample_source(PostgresHook("sample_source"))      # any object with get_conn(), or a DB-API connection

``python -m platform_dags.sample_data URI`` does the same from a shell.
"""

from __future__ import annotations

import random
import sys
from contextlib import closing
from datetime import date, datetime, timedelta

SEED = 20240601
COUNTS = {"groups": 40, "members": 2000, "events": 800, "rsvps": 4000}

SCHEMA = {
    "groups": "id integer PRIMARY KEY, name text NOT NULL, city text NOT NULL, topic text NOT NULL, created_on date NOT NULL",
    "members": "id integer PRIMARY KEY, name text NOT NULL, email text NOT NULL, city text NOT NULL, joined_on date NOT NULL",
    "events": (
        "id integer PRIMARY KEY, group_id integer NOT NULL REFERENCES groups(id), title text NOT NULL,"
        " starts_at timestamp NOT NULL, city text NOT NULL, capacity integer NOT NULL"
    ),
    "rsvps": (
        "id integer PRIMARY KEY, event_id integer NOT NULL REFERENCES events(id),"
        " member_id integer NOT NULL REFERENCES members(id), response text NOT NULL,"
        " guests integer NOT NULL, responded_at timestamp NOT NULL"
    ),
}

CITIES = ["Berlin", "Lisbon", "Paris", "Madrid", "Warsaw", "Dublin", "Milan", "Prague"]
TOPICS = ["python", "data", "hiking", "photography", "chess", "cooking", "startups", "music"]
FIRST = ["Ana", "Ben", "Chloe", "David", "Eva", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kira", "Luca"]
LAST = ["Almeida", "Berg", "Costa", "Dubois", "Esposito", "Fischer", "Garcia", "Horvat", "Ivanova", "Jansen"]
BASE = datetime(2024, 1, 1, 18, 0)


def generate(seed: int = SEED) -> dict[str, list[tuple]]:
    """Rows of every table, in load order; identical for identical seeds."""
    rng = random.Random(seed)
    groups = [
        (i, f"{rng.choice(CITIES)} {topic.title()} Club {i}", rng.choice(CITIES), topic, date(2020, 1, 1) + timedelta(days=rng.randrange(1400)))
        for i, topic in ((i, rng.choice(TOPICS)) for i in range(1, COUNTS["groups"] + 1))
    ]
    members = []
    for i in range(1, COUNTS["members"] + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        members.append(
            (i, f"{first} {last}", f"{first}.{last}.{i}@example.org".lower(), rng.choice(CITIES), date(2021, 1, 1) + timedelta(days=rng.randrange(1200)))
        )
    events = []
    for i in range(1, COUNTS["events"] + 1):
        group = rng.choice(groups)
        starts = BASE + timedelta(days=rng.randrange(365), hours=rng.choice([0, 1, 2]))
        events.append((i, group[0], f"{group[3].title()} meetup #{i}", starts, group[2], rng.choice([20, 30, 50, 80, 120])))
    rsvps, seen = [], set()
    while len(rsvps) < COUNTS["rsvps"]:
        event, member = rng.choice(events), rng.randrange(1, COUNTS["members"] + 1)
        if (event[0], member) in seen:  # one answer per member and event, as on the real site
            continue
        seen.add((event[0], member))
        response = rng.choices(["yes", "no", "waitlist"], weights=[7, 2, 1])[0]
        responded = event[3] - timedelta(days=rng.randrange(1, 30), minutes=rng.randrange(1440))
        rsvps.append((len(rsvps) + 1, event[0], member, response, rng.choice([0, 0, 0, 1, 2]), responded))
    return {"groups": groups, "members": members, "events": events, "rsvps": rsvps}


def _connect(target):
    if isinstance(target, str):
        import psycopg2

        return psycopg2.connect(target)
    if hasattr(target, "get_conn"):
        return target.get_conn()
    return target


def load_sample_source(target, *, seed: int = SEED) -> dict[str, int]:
    """(Re)create the four tables in the ``public`` schema of ``target`` and fill them.

    ``target``: a PostgreSQL URI, an Airflow DB-API hook, or a DB-API connection. Returns rows per table.
    """
    data = generate(seed)
    conn = _connect(target)
    with closing(conn.cursor()) as cursor:
        for table in reversed(list(SCHEMA)):
            cursor.execute(f"DROP TABLE IF EXISTS public.{table} CASCADE")
        for table, columns in SCHEMA.items():
            cursor.execute(f"CREATE TABLE public.{table} ({columns})")
            rows = data[table]
            marks = ", ".join(["%s"] * len(rows[0]))
            cursor.executemany(f"INSERT INTO public.{table} VALUES ({marks})", rows)
    conn.commit()
    if isinstance(target, str) or hasattr(target, "get_conn"):
        conn.close()
    return {table: len(rows) for table, rows in data.items()}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m platform_dags.sample_data POSTGRES_URI")
    counts = load_sample_source(sys.argv[1])
    print(", ".join(f"{table}: {n}" for table, n in counts.items()), f"(total {sum(counts.values())})")
