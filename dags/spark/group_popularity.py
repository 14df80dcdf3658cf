"""Feature job: how popular each group is (distinct members who said yes, events held), from the warehouse.

    spark-submit group_popularity.py --jdbc-url JDBC_URL --output meetup.features_group_popularity
"""

import argparse

from pyspark.sql import SparkSession
from pyspark.sql import functions as F


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jdbc-url", required=True)
    parser.add_argument("--output", default="meetup.features_group_popularity")
    args = parser.parse_args()
    spark = SparkSession.builder.appName("group_popularity").getOrCreate()
    read = spark.read.format("jdbc").option("url", args.jdbc_url).option("driver", "org.postgresql.Driver")
    groups = read.option("dbtable", "meetup.groups").load()
    events = read.option("dbtable", "meetup.events").load()
    rsvps = read.option("dbtable", "meetup.rsvps").load().where(F.col("response") == "yes")
    members = (
        rsvps.join(events.select(F.col("id").alias("event_id"), "group_id"), "event_id")
        .groupBy("group_id")
        .agg(F.countDistinct("member_id").alias("members"))
    )
    held = events.groupBy("group_id").agg(F.count("*").alias("events"))
    out = (
        groups.select(F.col("id").alias("group_id"), "city", "topic")
        .join(members, "group_id", "left")
        .join(held, "group_id", "left")
        .fillna(0, ["members", "events"])
    )
    out.write.format("jdbc").option("url", args.jdbc_url).option("driver", "org.postgresql.Driver").option(
        "dbtable", args.output
    ).mode("overwrite").save()
    print(f"group_popularity: {out.count()} groups written to {args.output}")
    spark.stop()


if __name__ == "__main__":
    main()
