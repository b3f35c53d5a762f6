"""The classroom: a local JupyterHub for the course (``make classroom``).

``python -m course_grading.classroom.hub`` (``make classroom``) sets up and starts a JupyterHub
on this machine with:

- an **instructor** account whose server runs as the unix user who started the hub (root on
  a course server: autograding's sandbox needs it), in the course folder, with the formgrader;
- **student** accounts, each a real unix user of the same name (created when run as root)
  whose server runs as that user in their home folder, with the assignment list (fetch,
  submit, fetch feedback) and validate, without the formgrader;
- the course's ``.venv`` as everybody's Python and kernel (``jupyterhub-singleuser`` from it);
- the course's own nbgrader exchange (``.classroom/exchange``, see ``exchange.py``): root
  0755, inbound 3733, a submission is collected only under its unix owner's name, so a
  student cannot submit as another: the exchange's identity is the hub's;
- ``configurable-http-proxy`` from the course's ``node_modules`` (``npm ci``, package.json);
- per-account passwords (generated, kept in ``.classroom/hub/accounts.json``, mode 0600) and a
  ``classroom-admin`` service token (``.classroom/hub/admin-token``) for scripting the hub's
  REST API (``tests/test_classroom_hub.py`` drives every step through it).

Without root no unix users can be made: every account then runs as you
(SimpleLocalProcessSpawner-style), which is fine to try the hub out but enforces no identity;
it says so when it starts.

State lives in ``.classroom/`` (git-ignored): ``hub/`` (0700: the hub's database, cookie
secret, proxy token, accounts), ``exchange/``, ``student-config/`` (the students' nbgrader and
Jupyter settings) and, without root, ``homes/``.
"""

from __future__ import annotations

import argparse
import hmac
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_FILE = Path(__file__).with_name("jupyterhub_config.py")
SETTINGS_ENV = "CLASSROOM_SETTINGS"
ADMIN_SERVICE = "classroom-admin"
# The students' servers show the assignment list and validate, not the instructor's tools.
STUDENT_SERVER_EXTENSIONS = {
    "nbgrader.server_extensions.formgrader": False,
    "nbgrader.server_extensions.course_list": False,
    "nbgrader.server_extensions.assignment_list": True,
    "nbgrader.server_extensions.validate_assignment": True,
}
STUDENT_DISABLED_LAB_PLUGINS = {
    "@jupyter/nbgrader:formgrader": True,
    "@jupyter/nbgrader:course-list": True,
    "@jupyter/nbgrader:create-assignment": True,
}
# Course folders no student may read on a shared machine (solutions, hidden tests, grades).
PRIVATE_COURSE_PATHS = ("solutions", "source", "submitted", "autograded", "feedback",
                        "gradebook.db", "nbgrader_config.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def course_id(course: Path) -> str:
    """The course id from the course folder's ``nbgrader_config.py``."""
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    return str(config.CourseDirectory.course_id)


def _write_private(path: Path, text: str) -> None:
    path.touch(mode=0o600, exist_ok=True)
    os.chmod(path, 0o600)
    path.write_text(text)


def _secret(path: Path, nbytes: int = 32) -> str:
    if not path.exists():
        _write_private(path, secrets.token_hex(nbytes))
    return path.read_text().strip()


def unix_user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def create_unix_user(name: str, homes: Path | None) -> None:
    """``useradd`` a student account (no password: they log in through the hub only)."""
    if unix_user_exists(name):
        return
    args = ["useradd", "--create-home", "--shell", "/bin/bash", "--user-group"]
    if homes is not None:
        args += ["--home-dir", str(homes / name)]
    subprocess.run([*args, name], check=True, capture_output=True, text=True)


def remove_unix_user(name: str) -> None:
    """``userdel --remove`` (for tests that made throwaway accounts)."""
    if unix_user_exists(name):
        subprocess.run(["userdel", "--remove", name], capture_output=True, text=True)


def tighten_course(course: Path) -> list[str]:
    """Make the course's private folders unreadable to other users; return what changed."""
    changed = []
    for name in PRIVATE_COURSE_PATHS:
        path = course / name
        if path.exists():
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & 0o077:
                os.chmod(path, mode & 0o700)
                changed.append(f"{name} {mode:o} -> {mode & 0o700:o}")
    return changed


def interpreter_blockers(venv: Path) -> list[Path]:
    """Folders on the way to the venv's real Python that other users cannot enter.

    A venv made from a Python under /root (pyenv) cannot be run by the students' unix users
    while /root is 0700; their servers would fail with "Permission denied".
    """
    blocked = []
    for target in (Path(venv) / "bin" / "python", Path(venv)):
        real = target.resolve()
        for folder in [*reversed(real.parents), real] if real.is_dir() else reversed(real.parents):
            if not stat.S_IMODE(folder.stat().st_mode) & stat.S_IXOTH and folder not in blocked:
                blocked.append(folder)
    return blocked


def open_folders(folders: list[Path]) -> dict[str, int]:
    """Let other users enter (not list) ``folders``: add o+x. Returns the old modes."""
    old = {}
    for folder in folders:
        mode = stat.S_IMODE(folder.stat().st_mode)
        old[str(folder)] = mode
        os.chmod(folder, mode | stat.S_IXOTH)
    return old


def restore_modes(old: dict[str, int]) -> None:
    for folder, mode in old.items():
        os.chmod(folder, mode)


def setup(course: Path, *, students: list[str], instructor: str = "instructor",
          state: Path | None = None, exchange: Path | None = None, homes: Path | None = None,
          port: int = 8000, ip: str = "127.0.0.1", unix_users: bool | None = None,
          db_url: str | None = None) -> dict:
    """Prepare everything the hub needs; return its settings (also written to settings.json).

    Args:
        course: the course folder (its ``nbgrader_config.py``, ``solutions/``...).
        students: student account names (also their unix user names and nbgrader ids).
        instructor: the instructor's account name (runs as the user calling this).
        state: where the hub keeps its state (default ``<course>/.classroom``).
        exchange: the course's nbgrader exchange (default ``<state>/exchange``).
        homes: parent folder of new students' homes (default: the system's, /home).
        unix_users: real unix users per student (default: when run as root).
    """
    course = Path(course).resolve()
    state = Path(state or course / ".classroom").resolve()
    exchange = Path(exchange or state / "exchange").resolve()
    unix_users = os.geteuid() == 0 if unix_users is None else unix_users
    if instructor in students:
        raise ValueError(f"{instructor!r} is both the instructor and a student")
    chp = REPO_ROOT / "node_modules" / ".bin" / "configurable-http-proxy"
    if not chp.exists():
        chp_found = shutil.which("configurable-http-proxy")
        if not chp_found:
            raise FileNotFoundError("configurable-http-proxy not found: run `npm ci` in "
                                    f"{REPO_ROOT} (make classroom does it)")
        chp = Path(chp_found)
    hub_dir = state / "hub"
    for folder, mode in [(state, 0o755), (hub_dir, 0o700), (state / "student-config", 0o755)]:
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, mode)
    if not exchange.exists():
        exchange.mkdir(parents=True, mode=0o755)
    os.chmod(exchange, 0o755)
    accounts_file = hub_dir / "accounts.json"
    accounts = json.loads(accounts_file.read_text()) if accounts_file.exists() else {}
    for name in [instructor, *students]:
        accounts.setdefault(name, secrets.token_urlsafe(9))
    _write_private(accounts_file, json.dumps(accounts, indent=1))
    made_private = tighten_course(course) if unix_users else []
    if unix_users:
        if homes is not None:
            homes.mkdir(parents=True, exist_ok=True)
            os.chmod(homes, 0o755)
        for name in students:
            create_unix_user(name, homes)
    cid = course_id(course)
    _write_student_config(state / "student-config", cid, exchange)
    me = pwd.getpwuid(os.getuid())
    settings = {
        "course": str(course), "course_id": cid, "state": str(state),
        "exchange": str(exchange), "instructor": instructor, "students": list(students),
        "unix_users": unix_users, "instructor_unix": me.pw_name, "instructor_home": me.pw_dir,
        "homes": str(homes) if homes else None, "venv": str(Path(sys.prefix)),
        "ip": ip, "port": port, "hub_port": free_port(), "proxy_api_port": free_port(),
        "chp": str(chp), "db_url": db_url, "made_private": made_private,
        "url": f"http://{ip}:{port}/",
    }
    _write_private(hub_dir / "settings.json", json.dumps(settings, indent=1))
    _secret(hub_dir / "admin-token")
    _secret(hub_dir / "proxy-token")
    return settings


def _write_student_config(folder: Path, cid: str, exchange: Path) -> None:
    from course_grading.classroom.exchange import EXCHANGE_CLASSES

    lines = [
        '"""nbgrader settings of the course\'s students (written by make classroom)."""',
        "c = get_config()  # noqa: F821",
        f"c.CourseDirectory.course_id = {cid!r}",
        f"c.Exchange.root = {str(exchange)!r}",
        *(f"c.ExchangeFactory.{step} = {cls!r}" for step, cls in EXCHANGE_CLASSES.items()),
    ]
    (folder / "nbgrader_config.py").write_text("\n".join(lines) + "\n")
    server = {"ServerApp": {"jpserver_extensions": STUDENT_SERVER_EXTENSIONS}}
    (folder / "jupyter_server_config.json").write_text(json.dumps(server, indent=1))
    (folder / "labconfig").mkdir(exist_ok=True)
    (folder / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": STUDENT_DISABLED_LAB_PLUGINS}, indent=1))
    for path in folder.rglob("*"):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)


def load_settings(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


def settings_path(state: Path) -> Path:
    return Path(state) / "hub" / "settings.json"


def admin_token(settings: dict) -> str:
    return (Path(settings["state"]) / "hub" / "admin-token").read_text().strip()


def accounts(settings: dict) -> dict[str, str]:
    return json.loads((Path(settings["state"]) / "hub" / "accounts.json").read_text())


# ---- the hub's configuration (jupyterhub_config.py calls configure) ---------------------------

def configure(c, settings: dict) -> None:
    """Fill JupyterHub's config object ``c`` from the classroom's settings."""
    hub_dir = Path(settings["state"]) / "hub"
    ip = settings["ip"]
    c.JupyterHub.bind_url = f"http://{ip}:{settings['port']}"
    c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{settings['hub_port']}"
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{settings['proxy_api_port']}"
    c.ConfigurableHTTPProxy.command = [settings["chp"]]
    c.ConfigurableHTTPProxy.auth_token = _secret(hub_dir / "proxy-token")
    c.ConfigurableHTTPProxy.pid_file = str(hub_dir / "proxy.pid")
    c.JupyterHub.db_url = f"sqlite:///{hub_dir / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(hub_dir / "cookie-secret")
    c.JupyterHub.pid_file = str(hub_dir / "jupyterhub.pid")
    c.JupyterHub.authenticator_class = CoursePasswordAuthenticator
    c.CoursePasswordAuthenticator.accounts_file = str(hub_dir / "accounts.json")
    c.Authenticator.allowed_users = {settings["instructor"], *settings["students"]}
    c.Authenticator.admin_users = {settings["instructor"]}
    c.JupyterHub.spawner_class = CourseSpawner
    c.CourseSpawner.classroom = settings
    c.Spawner.default_url = "/lab"
    c.Spawner.start_timeout = 180
    c.Spawner.http_timeout = 180
    c.JupyterHub.services = [{"name": ADMIN_SERVICE, "api_token": admin_token(settings)}]
    c.JupyterHub.load_roles = [{
        "name": ADMIN_SERVICE, "services": [ADMIN_SERVICE],
        "scopes": ["admin:users", "admin:servers", "tokens", "list:users", "read:users"],
    }]


def _authenticator_base():
    from jupyterhub.auth import Authenticator

    return Authenticator


def _spawner_base():
    from jupyterhub.spawner import LocalProcessSpawner

    return LocalProcessSpawner


try:  # the classes need jupyterhub; the rest of this module does not
    from traitlets import Dict, Unicode

    class CoursePasswordAuthenticator(_authenticator_base()):
        """Each account logs in with its own generated password (accounts.json)."""

        accounts_file = Unicode(config=True, help="JSON file {name: password}")

        async def authenticate(self, handler, data):
            accounts = json.loads(Path(self.accounts_file).read_text())
            name = (data or {}).get("username", "")
            expected = accounts.get(name)
            given = (data or {}).get("password", "")
            if expected and hmac.compare_digest(expected.encode(), given.encode()):
                return name
            return None

    class CourseSpawner(_spawner_base()):
        """The instructor runs as the hub's user in the course folder; each student as the
        unix user of the same name in their home (or, without root, as the hub's user in
        ``.classroom/homes/<name>``)."""

        classroom = Dict(config=True, help="the classroom's settings (hub.setup)")

        @property
        def is_instructor(self) -> bool:
            return self.user.name == self.classroom["instructor"]

        @property
        def runs_as_hub_user(self) -> bool:
            return self.is_instructor or not self.classroom["unix_users"]

        @property
        def workdir(self) -> str:
            if self.is_instructor:
                return self.classroom["course"]
            if self.classroom["unix_users"]:
                return pwd.getpwnam(self.user.name).pw_dir
            return str(Path(self.classroom["state"]) / "homes" / self.user.name)

        def make_preexec_fn(self, name):
            if not self.runs_as_hub_user:
                return super().make_preexec_fn(name)
            workdir = self.workdir

            def preexec():
                os.makedirs(workdir, 0o755, exist_ok=True)
                os.chdir(workdir)

            return preexec

        def user_env(self, env):
            if not self.runs_as_hub_user:
                return super().user_env(env)
            env["USER"] = self.classroom["instructor_unix"]
            env["HOME"] = (self.classroom["instructor_home"] if self.is_instructor
                           else self.workdir)
            env["SHELL"] = "/bin/bash"
            return env

        def get_env(self):
            env = super().get_env()
            venv_bin = str(Path(self.classroom["venv"]) / "bin")
            env["PATH"] = venv_bin + os.pathsep + env.get("PATH", os.defpath)
            env["VIRTUAL_ENV"] = self.classroom["venv"]
            env["COURSE_EXCHANGE"] = self.classroom["exchange"]
            env["JUPYTERHUB_ROOT_DIR"] = self.workdir
            if self.classroom.get("db_url") and self.is_instructor:
                env["DB_URL"] = self.classroom["db_url"]
            if not self.is_instructor:
                env["JUPYTER_CONFIG_PATH"] = str(Path(self.classroom["state"])
                                                 / "student-config")
            return env

        def get_args(self):
            args = super().get_args()
            args.append(f"--ServerApp.root_dir={self.workdir}")
            if self.runs_as_hub_user and os.geteuid() == 0:
                args.append("--allow-root")
            return args

        def _default_cmd(self):
            return [str(Path(self.classroom["venv"]) / "bin" / "jupyterhub-singleuser")]

        async def start(self):
            self.cmd = self._default_cmd()
            return await super().start()

except ImportError:  # pragma: no cover - jupyterhub is in requirements.txt
    pass


# ---- running it ---------------------------------------------------------------------------

def hub_process(settings: dict, *, log=None) -> subprocess.Popen:
    """Start ``jupyterhub`` with the course's config (in its own session; see stop_hub)."""
    env = {**os.environ, SETTINGS_ENV: str(settings_path(Path(settings["state"])))}
    env["PATH"] = str(Path(settings["venv"]) / "bin") + os.pathsep + env.get("PATH", "")
    hub_dir = Path(settings["state"]) / "hub"
    return subprocess.Popen(
        [str(Path(settings["venv"]) / "bin" / "jupyterhub"), "-f", str(CONFIG_FILE)],
        cwd=hub_dir, env=env, stdout=log, stderr=subprocess.STDOUT if log else None,
        start_new_session=True)


def wait_until_up(settings: dict, process: subprocess.Popen, timeout: float = 120) -> None:
    """Wait until the hub answers through the proxy (or fail with its exit code)."""
    url = settings["url"] + "hub/api/"
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"jupyterhub exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"the hub did not answer at {url} within {timeout:.0f} s")
        time.sleep(0.5)


def stop_hub(process: subprocess.Popen, timeout: float = 60) -> None:
    """SIGTERM the hub: it stops the students' servers and the proxy, then exits."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def print_welcome(settings: dict) -> None:
    passwords = accounts(settings)
    print(f"\nThe classroom's JupyterHub: {settings['url']}")
    print(f"course {settings['course_id']}: {settings['course']}")
    print(f"exchange: {settings['exchange']}\n")
    print(f"{'account':<20} {'role':<11} password")
    for name in [settings["instructor"], *settings["students"]]:
        role = "instructor" if name == settings["instructor"] else "student"
        print(f"{name:<20} {role:<11} {passwords[name]}")
    print(f"\n(passwords: {Path(settings['state']) / 'hub' / 'accounts.json'}; "
          f"REST API token of the {ADMIN_SERVICE} service: "
          f"{Path(settings['state']) / 'hub' / 'admin-token'})")
    if not settings["unix_users"]:
        print("\nNOT ROOT: every account runs as your own unix user, so the exchange cannot "
              "tell students apart (fine for trying it out, not for a class). Run as root for "
              "one unix user per student.")
    print("Stop with Ctrl-C.\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_grading.classroom.hub",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--course", type=Path, default=Path.cwd())
    parser.add_argument("--students", default="student1,student2",
                        help="comma-separated student account names")
    parser.add_argument("--instructor", default="instructor")
    parser.add_argument("--exchange", type=Path, default=None)
    parser.add_argument("--ip", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    students = [name.strip() for name in args.students.split(",") if name.strip()]
    settings = setup(args.course, students=students, instructor=args.instructor,
                     exchange=args.exchange, ip=args.ip, port=args.port,
                     db_url=os.environ.get("DB_URL") or None)
    opened = {}
    if settings["unix_users"]:
        for change in settings["made_private"]:
            print(f"made private to the instructor: {change}")
        blockers = interpreter_blockers(Path(settings["venv"]))
        blockers += [folder for folder in reversed(Path(settings["exchange"]).parents)
                     if not stat.S_IMODE(folder.stat().st_mode) & stat.S_IXOTH
                     and folder not in blockers]
        if blockers:
            print("The students' unix users must run the course's Python and reach the "
                  "exchange; until the hub stops, they may enter (not list): "
                  + ", ".join(map(str, blockers)))
            opened = open_folders(blockers)
    print_welcome(settings)
    process = hub_process(settings)
    try:
        return process.wait()
    except KeyboardInterrupt:
        stop_hub(process)
        return 0
    finally:
        restore_modes(opened)


if __name__ == "__main__":
    sys.exit(main())
