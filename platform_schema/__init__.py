"""What environment files (infra/config/) and pipeline files (dags/platform_dags/factory/) share.

One YAML loader that keeps line and column and refuses duplicate keys (`document`), one formatter
that turns pydantic's validation errors into sentences with did-you-mean hints (`explain`), and one
way to show a path in a message (`paths`). It imports only PyYAML and pydantic: the CLI (which must
start fast) and Airflow's processes (which must not need infra/) both import it.
"""

from platform_schema.document import Document, DocumentError, Problem, read_text
from platform_schema.explain import explain, fail, fail_at, key_path
from platform_schema.paths import shown_path

__all__ = ["Document", "DocumentError", "Problem", "explain", "fail", "fail_at", "key_path", "read_text", "shown_path"]
