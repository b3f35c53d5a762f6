"""Print the whole book as one PDF: a single-page build printed by headless Chromium.

    python scripts/print_pdf.py                      # build, then print _build/pdf/book.pdf
    python scripts/print_pdf.py --no-build --html _build/singlehtml/intro.html --out book.pdf

Jupyter Book's `singlehtml` builder writes the book, in the order of `_toc.yml`, as one page
(committed outputs, nothing executed, warnings are errors). Debian's Chromium opens that page
headless and is driven over the DevTools protocol on a pipe (no port, no network): the script
waits until the bundled MathJax has typeset every formula (`MathJax.startup.promise`), the web
fonts and images have loaded and every dropdown (hints) is open, then calls `Page.printToPDF`
(A4 or Letter, 0.6 in margins, page numbers in the footer); `_static/print.css` lays the page
out for paper. A fixed virtual-time budget is not used: on a 7 MB page it is either too long
or too short.

`make pdf` runs this script; `make browser` installs Chromium when it is missing.
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

REPO_ROOT = Path(__file__).resolve().parent.parent
PAPER_INCHES = {"a4": (8.27, 11.69), "letter": (8.5, 11.0)}
FOOTER = (
    '<div style="font-size:8px;width:100%;text-align:center;color:#555">'
    '<span class="pageNumber"></span> / <span class="totalPages"></span></div>'
)
# Runs in the page; resolves once the page is ready to print, with what it found.
READY_SCRIPT = r"""
(async () => {
  // The book's document (lesson) a node belongs to: singlehtml marks each with a span.
  const documentOf = node => {
    for (let s = node.closest('section'); s; s = s.parentElement.closest('section')) {
      const mark = s.previousElementSibling;
      if (mark && mark.id.startsWith('document-')) return mark.id.slice(9);
    }
    return '?';
  };
  const mathErrors = () => Array.from(MathJax.startup.document.math)
    .filter(item => item.typesetRoot && item.typesetRoot.querySelector('mjx-merror'))
    .map(item => documentOf(item.typesetRoot) + ': ' +
      item.typesetRoot.querySelector('mjx-merror').getAttribute('data-mjx-error') +
      ' in ' + item.math.replace(/\s+/g, ' ').trim().slice(0, 70));
  const started = performance.now();
  while (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) {
    if (performance.now() - started > %(limit_ms)d) {
      throw new Error('MathJax did not load (is _static/mathjax in the build?)');
    }
    await new Promise(resolve => setTimeout(resolve, 100));
  }
  await MathJax.startup.promise;
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  const images = Array.from(document.images);
  images.forEach(img => { img.loading = 'eager'; });
  await Promise.all(images.filter(img => !img.complete).map(
    img => new Promise(resolve => { img.onload = img.onerror = resolve; })));
  await document.fonts.ready;
  await new Promise(resolve => requestAnimationFrame(() => requestAnimationFrame(resolve)));
  const unrendered = document.querySelectorAll(
    '.math:not(:has(mjx-container)):not(mjx-container *)');
  return {
    math: document.querySelectorAll('.math').length,
    formulas: document.querySelectorAll('mjx-container').length,
    math_errors: mathErrors(),
    unrendered: Array.from(unrendered).slice(0, 20).map(
      e => documentOf(e) + ': ' + e.textContent.replace(/\s+/g, ' ').trim().slice(0, 70)),
    images: images.length,
    broken_images: images.filter(img => !img.naturalWidth).map(img => img.src).slice(0, 5),
  };
})()
"""


class PrintError(RuntimeError):
    """The book could not be built or printed; the message says why."""


def find_chromium() -> str:
    """Return the path of Debian's Chromium, or raise PrintError saying how to install it."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise PrintError(
        "chromium not found: `make browser` installs Debian's chromium "
        "(as root), or install it with your package manager"
    )


def build_singlehtml(build_root: Path) -> Path:
    """Build the book as one page into build_root/_build/singlehtml; return its page.

    Args:
        build_root: folder that receives `_build/` (jupyter-book's --path-output).

    Returns:
        The single page, `_build/singlehtml/intro.html` (the root of `_toc.yml`).
    """
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    command = [
        str(jupyter_book), "build", str(REPO_ROOT), "--path-output", str(build_root),
        "--builder", "singlehtml", "--warningiserror", "--keep-going",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        raise PrintError(
            f"single-page build failed:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
        )
    page = build_root / "_build" / "singlehtml" / "intro.html"
    if not page.is_file():
        raise PrintError(f"the build wrote no {page}")
    return page


class DevTools:
    """A minimal DevTools-protocol client over Chromium's --remote-debugging-pipe."""

    def __init__(self, chromium: str, profile: Path) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # The browser reads commands on fd 3 and writes replies on fd 4; move both ends out
        # of the way first so that neither dup2 overwrites the other.
        high_r = _high_fd(to_browser_r)
        high_w = _high_fd(from_browser_w)

        def plumb() -> None:
            os.dup2(high_r, 3, inheritable=True)
            os.dup2(high_w, 4, inheritable=True)
            os.close(high_r)
            os.close(high_w)

        # A file, not a pipe: nobody reads Chromium's chatter until something goes wrong.
        self._log = (profile / "chromium.log").open("w+b")
        self.process = subprocess.Popen(
            [
                chromium, "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--no-first-run", "--disable-quic",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-extensions", "--allow-file-access-from-files",
                "--hide-scrollbars", "--remote-debugging-pipe",
                f"--user-data-dir={profile}", "about:blank",
            ],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._log,
            preexec_fn=plumb, close_fds=False,
        )
        for fd in (to_browser_r, from_browser_w, high_r, high_w):
            os.close(fd)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None,
             session: str | None = None, timeout: float = 120.0) -> dict[str, Any]:
        """Send one command and return its result; raise PrintError on an error reply."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method,
                                   "params": params or {}}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(self._to_browser, data):]
        reply = self._wait(lambda m: m.get("id") == self._next_id, timeout, method)
        if "error" in reply:
            raise PrintError(f"{method} failed: {reply['error']}")
        return reply.get("result", {})

    def wait_event(self, method: str, timeout: float) -> dict[str, Any]:
        """Return the first event called method (one already received counts)."""
        for event in self.events:
            if event.get("method") == method:
                self.events.remove(event)
                return event
        return self._wait(lambda m: m.get("method") == method, timeout, method)

    def _wait(self, wanted: Callable[[dict[str, Any]], bool], timeout: float,
              what: str) -> dict[str, Any]:
        """Read messages until wanted(message); keep the events passed on the way."""
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                if wanted(message):
                    return message
                if "method" in message:
                    self.events.append(message)
            left = deadline - time.monotonic()
            if left <= 0:
                raise PrintError(f"chromium did not answer {what} within {timeout:.0f} s")
            ready, _, _ = select.select([self._from_browser], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    self._log.seek(0)
                    stderr = self._log.read().decode(errors="replace")
                    raise PrintError(
                        f"chromium exited while waiting for {what}:\n{stderr[-3000:]}"
                    )
                self._buffer += chunk

    def close(self) -> None:
        """Ask the browser to quit, then make sure it has."""
        try:
            self.send("Browser.close", timeout=10)
        except (PrintError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._to_browser, self._from_browser):
            os.close(fd)
        self._log.close()


def _high_fd(fd: int) -> int:
    """Return a duplicate of fd numbered 10 or above (clear of the pipe's fds 3 and 4)."""
    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)


def print_pdf(page: Path, out: Path, *, paper: str = "a4", timeout: float = 600.0,
              chromium: str | None = None) -> dict[str, Any]:
    """Open page in headless Chromium, wait for MathJax, fonts and images, print to out.

    Args:
        page: the single-page HTML build (`_build/singlehtml/intro.html`).
        out: the PDF to write (its folder is created).
        paper: "a4" or "letter".
        timeout: seconds allowed for loading, typesetting and printing, each.
        chromium: the browser binary (default: found on PATH).

    Returns:
        What the page reported before printing: formulas typeset, images, and the PDF's size.
    """
    if paper not in PAPER_INCHES:
        raise ValueError(f"paper must be one of {sorted(PAPER_INCHES)}, got {paper!r}")
    if not page.is_file():
        raise PrintError(f"no page to print at {page}: build the book first")
    chromium = chromium or find_chromium()
    width, height = PAPER_INCHES[paper]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="print-pdf-") as profile:
        browser = DevTools(chromium, Path(profile))
        try:
            target = browser.send("Target.createTarget", {"url": "about:blank"})
            session = browser.send("Target.attachToTarget",
                                   {"targetId": target["targetId"], "flatten": True})
            sid = session["sessionId"]
            browser.send("Page.enable", session=sid)
            browser.send("Page.navigate", {"url": page.resolve().as_uri()}, session=sid)
            browser.wait_event("Page.loadEventFired", timeout)
            ready = browser.send(
                "Runtime.evaluate",
                {"expression": READY_SCRIPT % {"limit_ms": int(timeout * 1000)},
                 "awaitPromise": True, "returnByValue": True},
                session=sid, timeout=timeout,
            )
            if "exceptionDetails" in ready:
                details = ready["exceptionDetails"]
                text = details.get("exception", {}).get("description") or details.get("text")
                raise PrintError(f"the page was not ready to print: {text}")
            report = ready["result"]["value"]
            report["ready_s"] = round(time.perf_counter() - started, 1)
            if report["math"] and not report["formulas"]:
                raise PrintError("MathJax typeset none of the page's formulas")
            if report["broken_images"]:
                raise PrintError(f"images did not load: {report['broken_images']}")
            printed = browser.send(
                "Page.printToPDF",
                {"paperWidth": width, "paperHeight": height, "printBackground": True,
                 "preferCSSPageSize": False, "displayHeaderFooter": True,
                 "headerTemplate": "<span></span>", "footerTemplate": FOOTER,
                 "marginTop": 0.6, "marginBottom": 0.7, "marginLeft": 0.6,
                 "marginRight": 0.6, "generateTaggedPDF": False,
                 "transferMode": "ReturnAsStream"},
                session=sid, timeout=timeout,
            )
            out.parent.mkdir(parents=True, exist_ok=True)
            with out.open("wb") as pdf:
                while True:
                    chunk = browser.send("IO.read", {"handle": printed["stream"],
                                                     "size": 1 << 20},
                                         session=sid, timeout=timeout)
                    data = chunk.get("data", "")
                    pdf.write(base64.b64decode(data) if chunk.get("base64Encoded") else
                              data.encode("latin-1"))
                    if chunk.get("eof"):
                        break
            browser.send("IO.close", {"handle": printed["stream"]}, session=sid)
        finally:
            browser.close()
    report["pdf_bytes"] = out.stat().st_size
    return report


def warn_about(report: dict[str, Any]) -> None:
    """Print what the reader of the PDF would see wrong: MathJax errors, raw TeX."""
    for error in report["math_errors"]:
        print(f"warning: MathJax error (a red box in the PDF and the HTML book): {error}",
              file=sys.stderr)
    for tex in report["unrendered"]:
        print(f"warning: formula left as TeX: {tex}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Build (unless --no-build) and print the book; 1 with a message when either fails."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-root", type=Path, default=REPO_ROOT,
                        help="folder receiving _build/singlehtml (default: the repository)")
    parser.add_argument("--no-build", action="store_true",
                        help="print an existing single-page build (see --html)")
    parser.add_argument("--html", type=Path, default=None,
                        help="the page to print "
                        "(default: BUILD_ROOT/_build/singlehtml/intro.html)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "_build" / "pdf" / "book.pdf")
    parser.add_argument("--paper", choices=sorted(PAPER_INCHES), default="a4")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds for each of loading, typesetting and printing")
    parser.add_argument("--report", type=Path, default=None,
                        help="also write what the page reported, and the timings, as JSON")
    args = parser.parse_args(argv)
    timings: dict[str, float] = {}
    try:
        chromium = find_chromium()
        page = args.html or args.build_root / "_build" / "singlehtml" / "intro.html"
        if not args.no_build:
            started = time.perf_counter()
            page = build_singlehtml(args.build_root)
            timings["build_s"] = round(time.perf_counter() - started, 1)
            print(f"single-page build: {timings['build_s']} s ({page})")
        started = time.perf_counter()
        report = print_pdf(page, args.out, paper=args.paper, timeout=args.timeout,
                           chromium=chromium)
        timings["print_s"] = round(time.perf_counter() - started, 1)
    except PrintError as error:
        print(f"print_pdf: {error}", file=sys.stderr)
        return 1
    warn_about(report)
    print(f"printed: {timings['print_s']} s, {report['formulas']} formulas, "
          f"{report['images']} images, {report['pdf_bytes'] / 1e6:.1f} MB")
    if args.report:
        args.report.write_text(json.dumps({**report, **timings}, indent=1), encoding="utf-8")
    print(f"PDF: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
