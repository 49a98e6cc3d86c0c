"""Success rules on jobs (``assertions``, API.md section 7): a JSON list, empty for
every existing job, so they keep succeeding exactly as before."""

NAME = "0060_assertions"

STATEMENTS = [
    "ALTER TABLE jobs ADD COLUMN assertions TEXT NOT NULL DEFAULT '[]'",
]


def apply(run) -> None:
    for statement in STATEMENTS:
        run(statement)
