"""Settings: where data lives and which database to use.

Every setting can come from the environment (``WORKBENCH_*``) or be passed
explicitly; tests always pass an explicit data dir so they never touch the
user's own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4080


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    models_file: Path | None = None
    token: str | None = field(default=None, repr=False)
    # Host names (or addresses) the page may be reached by besides loopback: a browser sends the name
    # it resolved, so a page on another name (DNS rebinding) is refused (see web/security.py).
    allowed_hosts: tuple[str, ...] = ()
    # With accounts on, a session ends this long after its sign-in (server-side, whatever the cookie says).
    session_hours: float = 12.0

    @classmethod
    def load(cls, data_dir: str | Path | None = None, database_url: str | None = None) -> "Settings":
        """Explicit arguments win over environment variables, which win over defaults."""
        env = os.environ
        chosen_dir = Path(data_dir or env.get("WORKBENCH_DATA_DIR") or _user_data_dir()).expanduser()
        url = database_url or env.get("WORKBENCH_DATABASE_URL") or f"sqlite:///{chosen_dir / 'workbench.db'}"
        models_file = env.get("WORKBENCH_MODELS_FILE")
        return cls(
            data_dir=chosen_dir,
            database_url=url,
            models_file=Path(models_file) if models_file else None,
            token=env.get("WORKBENCH_TOKEN") or None,
            allowed_hosts=tuple(h.strip() for h in env.get("WORKBENCH_ALLOWED_HOSTS", "").split(",") if h.strip()),
            session_hours=_hours(env.get("WORKBENCH_SESSION_HOURS")),
        )

    def allowing(self, *hosts: str) -> "Settings":
        """These settings with more allowed hosts (``workbench serve``: its address and --allowed-host)."""
        return replace(self, allowed_hosts=(*self.allowed_hosts, *(h for h in hosts if h)))

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def ensure_data_dir(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir


def _hours(text: str | None, default: float = 12.0) -> float:
    """WORKBENCH_SESSION_HOURS: a positive number of hours (up to a year); anything else is the default."""
    try:
        hours = float(text) if text else default
    except ValueError:
        return default
    return hours if 0 < hours <= 24 * 366 else default


def _user_data_dir() -> str:
    import platformdirs  # only when no data dir is given (~10 ms that `--help` and the tests skip)

    return platformdirs.user_data_dir("workbench")
