"""Feature job: how well each group's events fill (people per event, share of capacity), from the warehouse.

People at an event are the members who said yes plus their guests.

    spark-submit event_attendance.py --jdbc-url JDBC_URL --output meetup.features_event_attendance
"""

import argparse

from pyspark.sql import SparkSession
from pyspark.sql import functions as F


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jdbc-url", required=True)
    parser.add_argument("--output", default="meetup.features_event_attendance")
    args = parser.parse_args()
    spark = SparkSession.builder.appName("event_attendance").getOrCreate()
    read = spark.read.format("jdbc").option("url", args.jdbc_url).option("driver", "org.postgresql.Driver")
    groups = read.option("dbtable", "meetup.groups").load()
    events = read.option("dbtable", "meetup.events").load()
    rsvps = read.option("dbtable", "meetup.rsvps").load().where(F.col("response") == "yes")
    people = rsvps.groupBy("event_id").agg((F.count("*") + F.sum("guests")).alias("people"))
    per_event = events.select(F.col("id").alias("event_id"), "group_id", "capacity").join(people, "event_id", "left").fillna(0, ["people"])
    per_group = per_event.groupBy("group_id").agg(
        F.avg("people").cast("double").alias("avg_people"),
        F.avg(F.col("people") / F.col("capacity")).cast("double").alias("fill_rate"),
    )
    out = groups.select(F.col("id").alias("group_id")).join(per_group, "group_id", "left").fillna(0.0, ["avg_people", "fill_rate"])
    out.write.format("jdbc").option("url", args.jdbc_url).option("driver", "org.postgresql.Driver").option(
        "dbtable", args.output
    ).mode("overwrite").save()
    print(f"event_attendance: {out.count()} groups written to {args.output}")
    spark.stop()


if __name__ == "__main__":
    main()
