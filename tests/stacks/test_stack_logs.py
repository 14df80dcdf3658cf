"""Log sinks to the archive bucket and the log bucket, each writer with exactly one role; the task-logs bucket."""

from __future__ import annotations


def _buckets(stack) -> tuple[dict, dict]:
    return stack.one("google_storage_bucket", "logs/archive-bucket"), stack.one("google_storage_bucket", "logs/task-logs-bucket")


def test_buckets_are_private_and_uniform(stack):
    for bucket in _buckets(stack):
        assert bucket["uniform_bucket_level_access"] is True
        assert bucket["public_access_prevention"] == "enforced"
        assert bucket["force_destroy"] is False
        assert bucket["labels"]["environment"] == stack.env.name


def test_bucket_names_are_prefixed_with_the_project(stack):
    archive, task_logs = _buckets(stack)
    project, name = stack.env.gcp.project_id, stack.env.name
    assert archive["name"] == f"{project}-af-{name}-logs-archive"
    assert task_logs["name"] == f"{project}-af-{name}-task-logs"


def test_archive_moves_to_colder_classes_as_configured(stack):
    archive, _ = _buckets(stack)
    rules = [(r["condition"]["age"], r["action"]["storage_class"]) for r in archive["lifecycle_rule"]]
    assert rules == [(rule.age_days, rule.storage_class) for rule in stack.env.logging.archive.lifecycle]
    assert all(r["action"]["type"] == "SetStorageClass" for r in archive["lifecycle_rule"])


def test_archive_retention_follows_config(stack):
    archive, _ = _buckets(stack)
    config = stack.env.logging.archive
    assert archive["retention_policy"]["retention_period"] == str(config.retention_days * 86400)
    assert archive["retention_policy"]["is_locked"] is config.retention_locked


def test_retention_is_locked_only_in_prod(prod, dev, qa):
    assert _buckets(prod)[0]["retention_policy"]["is_locked"] is True
    assert _buckets(dev)[0]["retention_policy"]["is_locked"] is False
    assert _buckets(qa)[0]["retention_policy"]["is_locked"] is False


def test_archive_versioning_gives_way_to_the_retention_policy(stack):
    # GCS refuses both on one bucket; with a retention period nothing can be overwritten anyway.
    archive, task_logs = _buckets(stack)
    assert archive["versioning"]["enabled"] is (stack.env.logging.archive.retention_days is None)
    assert task_logs["versioning"]["enabled"] is True


def test_task_logs_are_deleted_after_their_retention(stack):
    _, task_logs = _buckets(stack)
    deletes = [r["condition"] for r in task_logs["lifecycle_rule"] if r["action"]["type"] == "Delete"]
    assert {"age": stack.env.logging.task_logs_retention_days} in deletes


def test_log_bucket_retention_follows_config(stack):
    bucket = stack.one("google_logging_project_bucket_config")
    assert bucket["retention_days"] == stack.env.logging.log_bucket_retention_days
    assert bucket["bucket_id"] == f"af_{stack.env.name}_logs"
    assert bucket["location"] == stack.env.gcp.region


def test_every_configured_sink_routes_to_both_destinations(stack):
    sinks = stack.all("google_logging_project_sink")
    assert len(sinks) == 2 * len(stack.env.logging.sinks)
    archive_name = f"{stack.env.gcp.project_id}-af-{stack.env.name}-logs-archive"
    for sink in stack.env.logging.sinks:
        to_archive = sinks[f"logs/sink-{sink.name}-archive"]
        to_logs = sinks[f"logs/sink-{sink.name}-logs"]
        assert to_archive["filter"] == to_logs["filter"] == sink.filter
        assert stack.ref(to_archive["destination"].removeprefix("storage.googleapis.com/")).path == "logs/archive-bucket"
        assert stack.one("google_storage_bucket", "logs/archive-bucket")["name"] == archive_name
        assert to_logs["destination"] == (
            f"logging.googleapis.com/projects/{stack.env.gcp.project_id}/locations/{stack.env.gcp.region}"
            f"/buckets/af_{stack.env.name}_logs"
        )
        assert to_archive["unique_writer_identity"] is to_logs["unique_writer_identity"] is True


def _iam_members(stack) -> list[tuple[str, str, str]]:
    """(resource type, construct path, member reference) of every IAM grant in the stack, whatever its type."""
    grants = []
    for kind, items in stack.resources_by_type.items():
        if "iam" not in kind:
            continue
        for path, body in stack.all(kind).items():
            members = body.get("members") or ([body["member"]] if "member" in body else [])
            grants += [(kind, path, member) for member in members]
    return grants


def _grants_to(stack, sink_path: str) -> list[tuple[str, dict]]:
    """Every IAM grant whose member is the writer identity of the sink at `sink_path`."""
    grants = []
    for kind, path, member in _iam_members(stack):
        if member.startswith("${"):
            ref = stack.ref(member)
            if ref.path == sink_path and ref.attribute == "writer_identity":
                grants.append((kind, stack.all(kind)[path]))
    return grants


def _same_project_log_bucket(stack, sink: dict) -> bool:
    return sink["destination"].startswith(f"logging.googleapis.com/projects/{stack.env.gcp.project_id}/")


def test_no_grant_is_built_from_the_writer_identity_of_a_same_project_log_bucket_sink(stack):
    # Such sinks have no writer identity: the member would be empty and the apply fails
    # ("Policy members must be of the form <type>:<value>").
    sinks = stack.all("google_logging_project_sink")
    same_project = {path for path, sink in sinks.items() if _same_project_log_bucket(stack, sink)}
    assert same_project, "every environment routes into its own log bucket"
    for kind, path, member in _iam_members(stack):
        if not member.startswith("${"):
            continue
        ref = stack.ref(member)
        assert not (ref.attribute == "writer_identity" and ref.path in same_project), (
            f"{stack.env.name}: {kind} {path} grants to the writer identity of {ref.path}, a same-project log-bucket sink"
        )


def test_each_cloud_storage_sink_writer_gets_only_object_creator_on_the_archive(stack):
    storage_sinks = {path for path, sink in stack.all("google_logging_project_sink").items() if sink["destination"].startswith("storage.googleapis.com/")}
    assert storage_sinks == {f"logs/sink-{sink.name}-archive" for sink in stack.env.logging.sinks}
    for path in storage_sinks:
        ((kind, grant),) = _grants_to(stack, path)
        assert kind == "google_storage_bucket_iam_member"
        assert grant["role"] == "roles/storage.objectCreator"
        assert stack.ref(grant["bucket"]).path == "logs/archive-bucket"
