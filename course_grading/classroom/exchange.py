"""The course's nbgrader exchange: one folder per course, never world-writable.

nbgrader's default exchange (``/srv/nbgrader/exchange``) is one folder that every course
shares, so ``release_assignment`` makes it mode 0777 (run as root, it silently creates it so),
and a student can submit under any student id (``nbgrader submit --student=someone-else``):
``collect`` only logs a warning when a submission's folder belongs to another unix user.

These classes replace nbgrader's (``nbgrader_config.py`` names them in ``ExchangeFactory``):

- the exchange root belongs to the instructor, mode 0755 (students traverse and read the
  released assignments, they cannot create anything there); a world-writable root found from
  an earlier nbgrader run is tightened, with a warning;
- ``<course>/inbound`` is ``-wx-wx-wt`` plus setgid (3733): students drop submissions in but
  cannot list, rename or delete other students' (nbgrader's 2733 plus the sticky bit);
  ``outbound`` 0755, ``feedback`` 0711 (files named by a hash of the submission), as in
  nbgrader's documentation of a shared exchange;
- ``submit`` files a submission under the submitting unix user's name only (``--student``
  naming anyone else is refused), and the submission folder is 0755, not nbgrader's 0777;
- ``release_feedback`` skips, with a warning, feedback of submissions that did not come
  through the exchange (an LMS download) instead of crashing on the first one;
- ``collect`` takes a submission only when its folder belongs to the unix user it names:
  any other is reported and skipped, so it can neither be graded nor hide the student's real
  submission. (The first check is the student's own tool, the second the one that holds.)

In the classroom (``make classroom``) each student is a unix user of the same name as their
JupyterHub account, and their server runs as that user, so the exchange's identity is the hub's.
"""

from __future__ import annotations

import glob
import os
import stat
import sys

from nbgrader.exchange.default.collect import ExchangeCollect, groupby
from nbgrader.exchange.default.fetch_assignment import ExchangeFetchAssignment
from nbgrader.exchange.default.fetch_feedback import ExchangeFetchFeedback
from nbgrader.exchange.default.list import ExchangeList
from nbgrader.exchange.default.release_assignment import ExchangeReleaseAssignment
from nbgrader.exchange.default.release_feedback import ExchangeReleaseFeedback
from nbgrader.exchange.default.submit import ExchangeSubmit
from nbgrader.utils import check_mode, get_username

if sys.platform != "win32":
    import pwd
else:  # pragma: no cover - the classroom runs on Linux
    pwd = None

ROOT_MODE = 0o755
INBOUND_MODE = stat.S_ISGID | stat.S_ISVTX | 0o733
SUBMISSION_DIR_MODE = 0o755

# nbgrader_config.py: c.ExchangeFactory.<step> = EXCHANGE_CLASSES[<step>]
EXCHANGE_CLASSES = {
    step: f"course_grading.classroom.exchange.Course{name}"
    for step, name in [
        ("fetch_assignment", "FetchAssignment"),
        ("fetch_feedback", "FetchFeedback"),
        ("release_assignment", "ReleaseAssignment"),
        ("release_feedback", "ReleaseFeedback"),
        ("list", "List"),
        ("submit", "Submit"),
        ("collect", "Collect"),
    ]
}


def owner_name(path: str) -> str:
    """The unix user name that owns ``path`` ("uid N" when it has no name)."""
    uid = os.stat(path).st_uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


class _ReadableRoot:
    """Students only need to traverse the root: nbgrader asks for write access there."""

    def ensure_root(self):
        if not os.path.isdir(self.root):
            self.fail(f"No exchange at {self.root}: ask your instructor to release the "
                      "assignment first (make release).")
        if not check_mode(self.root, read=False, write=False, execute=True):
            self.fail(f"You cannot enter the exchange {self.root}; ask your instructor.")


class CourseFetchAssignment(_ReadableRoot, ExchangeFetchAssignment):
    pass


class CourseFetchFeedback(_ReadableRoot, ExchangeFetchFeedback):
    pass


class CourseList(_ReadableRoot, ExchangeList):
    pass


class CourseSubmit(_ReadableRoot, ExchangeSubmit):
    """Submit under the unix user's own name; the folder is not left writable to all."""

    def init_dest(self):
        me = get_username()
        if self.coursedir.student_id not in ("*", "", me):
            self.fail(f"You are {me}: you cannot submit as {self.coursedir.student_id!r}.")
        self.coursedir.student_id = "*"  # nbgrader then uses the unix user name
        super().init_dest()

    def copy_files(self):
        super().copy_files()
        os.chmod(os.path.join(self.inbound_path, self.assignment_filename), SUBMISSION_DIR_MODE)


class CourseReleaseAssignment(ExchangeReleaseAssignment):
    """Create the exchange root 0755 (nbgrader: 0777) and the inbound folder 3733."""

    def ensure_root(self):
        if not os.path.exists(self.root):
            self.log.info("Creating the course exchange %s (mode %o)", self.root, ROOT_MODE)
            os.makedirs(self.root, mode=ROOT_MODE)
            os.chmod(self.root, ROOT_MODE)
        mode = stat.S_IMODE(os.stat(self.root).st_mode)
        if mode & (stat.S_IWGRP | stat.S_IWOTH):
            self.log.warning("The exchange %s was writable by other users (mode %o); "
                             "setting it to %o", self.root, mode, ROOT_MODE)
            try:
                os.chmod(self.root, ROOT_MODE)
            except PermissionError:
                self.fail(f"{self.root} is writable by other users and not yours to fix: "
                          "use a course exchange of your own (EXCHANGE=...).")

    def init_dest(self):
        super().init_dest()
        inbound = os.path.join(self.root, self.coursedir.course_id, "inbound")
        if stat.S_IMODE(os.stat(inbound).st_mode) != INBOUND_MODE:
            os.chmod(inbound, INBOUND_MODE)


class CourseReleaseFeedback(ExchangeReleaseFeedback):
    """Release the feedback of submissions that came through the exchange; skip the others.

    A submission collected from an LMS download (``make collect ZIP=``) has no
    ``submission_secret.txt``, so the exchange cannot name its feedback for the student to
    fetch. nbgrader's own step crashed on the first such student and released nobody after
    it; here each is skipped with a warning (hand those students their HTML feedback).
    """

    def copy_files(self):
        skipped = self.not_from_exchange()
        if not skipped:
            return super().copy_files()
        self.log.warning("Not released (not submitted through the exchange, no "
                         "timestamp.txt or submission_secret.txt; hand out their feedback "
                         "folder): %s", ", ".join(sorted(skipped)))
        before = self.coursedir.student_id_exclude
        excluded = {name for name in (before or "").split(",") if name}
        self.coursedir.student_id_exclude = ",".join(sorted(excluded | skipped))
        try:
            return super().copy_files()
        finally:
            self.coursedir.student_id_exclude = before

    def not_from_exchange(self) -> set[str]:
        """Students whose feedback folder lacks what an exchange submission leaves."""
        return {os.path.basename(os.path.dirname(folder))
                for folder in glob.glob(self.src_path) if os.path.isdir(folder)
                and not all(os.path.isfile(os.path.join(folder, name))
                            for name in ("timestamp.txt", "submission_secret.txt"))}


class CourseCollect(ExchangeCollect):
    """Collect only submissions whose folder belongs to the unix user they name."""

    def init_src(self):
        super().init_src()  # sets inbound_path, src_records (latest per student)
        if pwd is None or not self.check_owner:
            return
        pattern = os.path.join(self.inbound_path,
                               f"*+{self.coursedir.assignment_id}+*")
        wanted = self.coursedir.student_id if self.coursedir.student_id else "*"
        records, self.rejected = [], []
        for path in glob.glob(pattern):
            record = self._path_to_record(path)
            if wanted != "*" and record["username"] != wanted:
                continue
            owner = owner_name(path)
            if owner != record["username"]:
                self.rejected.append((record["filename"], owner))
                self.log.error("Skipped %s: it claims to be from %s but belongs to %s "
                               "(a submission under someone else's name)",
                               record["filename"], record["username"], owner)
                continue
            records.append(record)
        latest = [self._sort_by_timestamp(group)[0]
                  for group in groupby(records, lambda item: item["username"]).values()]
        if self.before_duedate and self.duedate is not None:
            latest = []
            for group in groupby(records, lambda item: item["username"]).values():
                ordered = self._sort_by_timestamp(group)
                on_time = [r for r in ordered if r["timestamp"] <= self.duedate]
                latest.append(on_time[0] if on_time else ordered[0])
        self.src_records = latest
