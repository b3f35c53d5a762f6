"""A throwaway PostgreSQL server for a gradebook (tests, trying DB_URL= out).

``nbgrader_config.py`` uses ``$DB_URL`` as nbgrader's gradebook when it is set, e.g.
``make grade A=01_perceptrons DB_URL=postgresql://grader@127.0.0.1:5433/gradebook``. A course
with a PostgreSQL server of its own just passes that URL; this module starts a private one::

    with TempPostgres() as pg:
        print(pg.url)      # postgresql://gradebook@127.0.0.1:<port>/gradebook

It runs Debian's ``postgresql`` binaries (``initdb``, ``pg_ctl``; ``make test`` installs the
package when run as root), listens on 127.0.0.1 only, trusts local connections (it is a
scratch server: never point it at real student data you keep) and is stopped and deleted on
exit. PostgreSQL refuses to run as root, so under root the server runs as the ``postgres``
system user (Debian's package creates it) or else ``nobody``, in a folder of its own under the
system's temporary folder (a test's tmp_path is private to root).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

DB_NAME = "gradebook"
DB_USER = "gradebook"


def find_bin(name: str) -> str | None:
    """Path of a PostgreSQL server program: PATH first, then Debian's versioned folders."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: int(Path(p).parts[4]) if Path(p).parts[4].isdigit() else 0)
    return candidates[-1] if candidates else None


def missing() -> str | None:
    """Why no server can start here (a message), or None."""
    for name in ("initdb", "pg_ctl", "postgres"):
        if not find_bin(name):
            return (f"PostgreSQL's {name} not found: install Debian's postgresql "
                    "(make test does it when run as root)")
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TempPostgres:
    """Start a private PostgreSQL server in a new temporary folder; stop and delete on exit."""

    def __init__(self, *, port: int | None = None):
        self.root = Path(tempfile.mkdtemp(prefix="course-postgres-"))
        self.data = self.root / "data"
        self.port = port or _free_port()
        self.url = f"postgresql://{DB_USER}@127.0.0.1:{self.port}/{DB_NAME}"
        self._user = None
        if os.geteuid() == 0:
            for name in ("postgres", "nobody"):
                try:
                    self._user = pwd.getpwnam(name)
                    break
                except KeyError:
                    continue

    def _run(self, args: list[str], **kwargs) -> subprocess.CompletedProcess:
        if self._user is not None:
            args = ["setpriv", f"--reuid={self._user.pw_uid}", f"--regid={self._user.pw_gid}",
                    "--init-groups", *args]
        result = subprocess.run(args, capture_output=True, text=True, timeout=120,
                                cwd=self.root, **kwargs)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def start(self) -> "TempPostgres":
        why = missing()
        if why:
            raise RuntimeError(why)
        if self._user is not None:
            os.chmod(self.root, 0o755)
            os.chown(self.root, self._user.pw_uid, self._user.pw_gid)
        self._run([find_bin("initdb"), "-D", str(self.data), "-U", DB_USER, "-A", "trust",
                   "-E", "UTF8", "--no-instructions"])
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                   "-c max_connections=200")
        self._run([find_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"),
                   "-o", options, "-w", "-t", "60", "start"])
        self._create_database()
        return self

    def _create_database(self) -> None:
        import psycopg  # SQLAlchemy 2.1's driver for postgresql:// URLs

        deadline = time.monotonic() + 30
        while True:
            try:
                conn = psycopg.connect(host="127.0.0.1", port=self.port, user=DB_USER,
                                       dbname="postgres", autocommit=True)
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        with conn:
            conn.execute(f"CREATE DATABASE {DB_NAME}")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run([find_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "TempPostgres":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
