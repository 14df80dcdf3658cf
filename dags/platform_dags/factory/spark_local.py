"""spark-submit from the installed pyspark wheel, for the `local` Spark target.

The provider's hook runs `spark-submit` from PATH; a virtual environment's `bin/` is on PATH only when
it is activated, so the operator puts the wheel's own `bin/` (where `pyspark` ships spark-submit) first.
"""

from __future__ import annotations

import os

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator


class LocalSparkSubmitOperator(SparkSubmitOperator):
    """`SparkSubmitOperator` that finds spark-submit in the pyspark package it runs with."""

    def execute(self, context):
        from platform_dags.factory.spark_build import spark_home_bin

        os.environ["PATH"] = spark_home_bin() + os.pathsep + os.environ.get("PATH", "")
        return super().execute(context)
