"""The k8s/ Pulumi program: everything Airflow needs inside the GKE cluster (see airflow_platform.py)."""
