"""Feature job: how active each member is (yes RSVPs, distinct groups attended), from the warehouse.

    spark-submit member_activity.py --jdbc-url jdbc:postgresql://host:port/warehouse?user=... \
        --output meetup.features_member_activity
"""

import argparse

from pyspark.sql import SparkSession
from pyspark.sql import functions as F


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jdbc-url", required=True)
    parser.add_argument("--output", default="meetup.features_member_activity")
    args = parser.parse_args()
    spark = SparkSession.builder.appName("member_activity").getOrCreate()
    read = spark.read.format("jdbc").option("url", args.jdbc_url).option("driver", "org.postgresql.Driver")
    members = read.option("dbtable", "meetup.members").load()
    rsvps = read.option("dbtable", "meetup.rsvps").load().where(F.col("response") == "yes")
    events = read.option("dbtable", "meetup.events").load()
    yes = rsvps.join(events.select(F.col("id").alias("event_id"), "group_id"), "event_id")
    activity = yes.groupBy("member_id").agg(
        F.count("*").alias("yes_rsvps"), F.countDistinct("group_id").alias("groups_attended")
    )
    out = (
        members.select(F.col("id").alias("member_id"), "city")
        .join(activity, "member_id", "left")
        .fillna(0, ["yes_rsvps", "groups_attended"])
    )
    out.write.format("jdbc").option("url", args.jdbc_url).option("driver", "org.postgresql.Driver").option(
        "dbtable", args.output
    ).mode("overwrite").save()
    print(f"member_activity: {out.count()} members written to {args.output}")
    spark.stop()


if __name__ == "__main__":
    main()
