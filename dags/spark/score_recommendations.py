"""Scoring job: which groups each member is likely to join, from the three feature tables (pyspark.ml).

Every (member, group) pair gets five features: same city, log(1 + group members), the group's fill rate,
people per event, and the member's yes RSVPs. A logistic regression learns from the pairs where the member
already attends the group (label 1) and those where not (label 0); a seeded split holds a fifth out to
report the model's AUC, so a run with the same data gives the same model. Each member's top groups
among those not attended yet are written to the output table, with the model's coefficients beside it
(`<output>_model`) so the ranking can be checked outside Spark.

    spark-submit score_recommendations.py --jdbc-url JDBC_URL --output meetup.recommended_groups --top 3
"""

import argparse

from pyspark.ml.classification import LogisticRegression
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F

FEATURES = ["same_city", "log_members", "fill_rate", "avg_people", "yes_rsvps"]
SEED = 20240601


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jdbc-url", required=True)
    parser.add_argument("--output", default="meetup.recommended_groups")
    parser.add_argument("--top", type=int, default=3)
    args = parser.parse_args()
    spark = SparkSession.builder.appName("score_recommendations").getOrCreate()
    read = spark.read.format("jdbc").option("url", args.jdbc_url).option("driver", "org.postgresql.Driver")
    members = read.option("dbtable", "meetup.features_member_activity").load()
    popularity = read.option("dbtable", "meetup.features_group_popularity").load()
    attendance = read.option("dbtable", "meetup.features_event_attendance").load()
    events = read.option("dbtable", "meetup.events").load()
    rsvps = read.option("dbtable", "meetup.rsvps").load().where(F.col("response") == "yes")
    attended = (
        rsvps.join(events.select(F.col("id").alias("event_id"), "group_id"), "event_id")
        .select("member_id", "group_id").distinct().withColumn("label", F.lit(1.0))
    )
    groups = popularity.join(attendance, "group_id").select(
        "group_id", F.col("city").alias("group_city"), "members", "fill_rate", "avg_people"
    )
    pairs = (
        members.crossJoin(groups)
        .join(attended, ["member_id", "group_id"], "left")
        .select(
            "member_id",
            "group_id",
            F.coalesce("label", F.lit(0.0)).alias("label"),
            (F.col("city") == F.col("group_city")).cast("double").alias("same_city"),
            F.log1p("members").alias("log_members"),
            F.col("fill_rate").cast("double"),
            F.col("avg_people").cast("double"),
            F.col("yes_rsvps").cast("double"),
        )
        # One partition in a fixed order: the seeded split and the fit then repeat exactly.
        .orderBy("member_id", "group_id").coalesce(1).cache()
    )
    data = VectorAssembler(inputCols=FEATURES, outputCol="features").transform(pairs)
    train, test = data.randomSplit([0.8, 0.2], seed=SEED)
    model = LogisticRegression(maxIter=100, regParam=0.01, standardization=True).fit(train)
    auc = BinaryClassificationEvaluator().evaluate(model.transform(test))

    scored = (
        model.transform(data.where(F.col("label") == 0.0))
        .withColumn("score", vector_to_array("probability")[1])
        .withColumn("rank", F.row_number().over(Window.partitionBy("member_id").orderBy(F.desc("score"), "group_id")))
        .where(F.col("rank") <= args.top)
        .select("member_id", "rank", "group_id", "score")
    )
    coefficients = [("intercept", float(model.intercept))] + [(n, float(w)) for n, w in zip(FEATURES, model.coefficients)]
    write = lambda df, table: (  # noqa: E731
        df.write.format("jdbc").option("url", args.jdbc_url).option("driver", "org.postgresql.Driver")
        .option("dbtable", table).mode("overwrite").save()
    )
    write(scored, args.output)
    write(spark.createDataFrame(coefficients, "feature string, weight double"), f"{args.output}_model")
    print(f"score_recommendations: AUC {auc:.3f} on the held-out fifth; top {args.top} groups per member in {args.output}")
    spark.stop()


if __name__ == "__main__":
    main()
