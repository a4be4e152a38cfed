# Hand-written (created with `makemigrations --empty`), as 0002 and 0008: triggers.
#
# The Self-service report counts article views per day and the most read articles, and
# searches per day and the queries most often run with no result, over a range. From
# the rows that is every view and search of the range (a million views a quarter on a
# large desk); reports_articleviewdaytally and reports_searchdaytally hold the same
# counts per desk day and article, or normalised query.
#
# Statement triggers with transition tables, as 0008: one grouped INSERT per statement,
# whatever writes the rows (the help center's INSERT, a load's COPY, a retention purge,
# an article's deletion cascading to its views). Days are cut in reports_tallyzone's
# zone. CREATE TRIGGER locks writers out until this migration commits, so the backfill
# misses none.

# The SQL below is built from the constant names in TALLIES only, never from input.
# ruff: noqa: S608

from django.db import migrations

# (tally table, source table, day column, key columns, {tally column: counted value},
# columns whose change moves a row)
TALLIES = [
    (
        "reports_articleviewdaytally",
        "knowledge_knowledgearticleview",
        "viewed_at",
        ["article_id"],
        {"views": "1"},
        ["viewed_at", "article_id"],
    ),
    (
        "reports_searchdaytally",
        "knowledge_knowledgesearchhistory",
        "created",
        ["normalized_query"],
        {"searches": "1", "no_result": "(r.results_count = 0)::int"},
        ["created", "normalized_query", "results_count"],
    ),
]


def _sql(spec):
    """The functions, triggers and backfill of one tally (a TALLIES entry), and their
    removal."""
    tally, source, day, keys, values, moved = spec
    name = tally.removeprefix("reports_")
    keys_sql = ", ".join(keys)
    columns = ", ".join(values)
    changed_cols = ", ".join(f"{{a}}.{c}" for c in moved)

    def counted(rows, sign, other=None):
        where = ""
        if other:
            where = (
                f"WHERE EXISTS (SELECT 1 FROM {other} x WHERE x.id = r.id AND "
                f"({changed_cols.format(a='x')}) IS DISTINCT FROM ({changed_cols.format(a='r')}))"
            )
        return (
            f"SELECT (r.{day} AT TIME ZONE reports_tally_zone())::date AS day, "
            + ", ".join(f"r.{k}" for k in keys)
            + ", "
            + ", ".join(f"{sign} * {v} AS {c}" for c, v in values.items())
            + f" FROM {rows} r {where}"
        )

    def append(changes):
        sums = ", ".join(f"sum({c})" for c in values)
        nonzero = " OR ".join(f"sum({c}) <> 0" for c in values)
        return (
            f"INSERT INTO {tally} (day, {keys_sql}, {columns}) "
            f"SELECT day, {keys_sql}, {sums} FROM ({changes}) AS changes "
            f"GROUP BY day, {keys_sql} HAVING {nonzero};"
        )

    bodies = {
        "insert": append(counted("new_rows", 1)),
        "delete": append(counted("old_rows", -1)),
        "update": append(
            counted("old_rows", -1, "new_rows") + " UNION ALL " + counted("new_rows", 1, "old_rows")
        ),
    }
    forward = []
    for op, body in bodies.items():
        referencing = {
            "insert": "NEW TABLE AS new_rows",
            "delete": "OLD TABLE AS old_rows",
            "update": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        }[op]
        forward.append(
            f"CREATE FUNCTION reports_{name}_{op}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            f"BEGIN\n    {body}\n    RETURN NULL;\nEND\n$$;\n"
            f"CREATE TRIGGER reports_{name}_{op} AFTER {op.upper()} ON {source}\n"
            f"    REFERENCING {referencing}\n"
            f"    FOR EACH STATEMENT EXECUTE FUNCTION reports_{name}_{op}();\n"
        )
    forward.append(
        f"CREATE FUNCTION reports_{name}_recount() RETURNS void LANGUAGE sql AS $$\n"
        f"    DELETE FROM {tally};\n    {append(counted(source, 1))}\n$$;\n"
        f"CREATE FUNCTION reports_{name}_truncate() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        f"BEGIN\n    DELETE FROM {tally};\n    RETURN NULL;\nEND\n$$;\n"
        f"CREATE TRIGGER reports_{name}_truncate AFTER TRUNCATE ON {source}\n"
        f"    FOR EACH STATEMENT EXECUTE FUNCTION reports_{name}_truncate();\n"
        f"SELECT reports_{name}_recount();\n"
    )
    backward = [
        *(f"DROP TRIGGER reports_{name}_{op} ON {source};" for op in (*bodies, "truncate")),
        *(f"DROP FUNCTION reports_{name}_{op}();" for op in (*bodies, "truncate", "recount")),
        f"DELETE FROM {tally};",
    ]
    return "\n".join(forward), "\n".join(backward)


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0009_helpcenter_day_tallies"),
        ("reports", "0002_tally_triggers"),
        ("knowledge", "0008_article_popular"),
    ]

    operations = [migrations.RunSQL(*_sql(spec)) for spec in TALLIES]
