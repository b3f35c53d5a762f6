# The course's entry points. Two are the contract (see README):
#   make book   set up .venv if needed, build the HTML book, print where index.html is
#   make test   set up .venv if needed, run the whole test suite
# Others: make pdf (the whole book as one PDF, _build/pdf/book.pdf),
#         make lab (JupyterLab with nbgrader), make exercises (regenerate student copies),
#         make notebooks (re-execute notebooks in place), make lock (re-pin constraints.txt),
#         make pretrained (retrain the course's pretrained models), make gpu-report, make clean.

SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The environment is reinstalled only when what it is built from changes (content, not mtime).
ENV_HASH := $(shell cat requirements.txt constraints.txt pyproject.toml | sha256sum | cut -c1-12)
STAMP  := $(VENV)/.installed-$(ENV_HASH)
# Quiet TensorFlow's C++ logs in every process the Makefile starts (nbval kernels included).
export TF_CPP_MIN_LOG_LEVEL ?= 3
export PYTHONHASHSEED ?= 0
# nbgrader runs `alembic` from PATH; jupyter-book and nbval start kernels from this env.
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: book test lab exercises notebooks pretrained lock clean env browser sandbox gpu-report
.PHONY: pdf pdftools
.PHONY: classroom node postgres
.PHONY: release collect grade grades extend

# Classroom variables (instructor/running-the-course.md): A= an assignment (01_perceptrons),
# J= parallel grading workers (default: the core count), DB_URL= a gradebook other than
# gradebook.db (postgresql://...), EXCHANGE= the course's nbgrader exchange folder.
A ?=
J ?= $(shell nproc)
DB_URL ?=
EXCHANGE ?=
ifneq ($(DB_URL),)
export DB_URL
endif
ifneq ($(EXCHANGE),)
export COURSE_EXCHANGE := $(abspath $(EXCHANGE))
endif
.PHONY: check feedback

env: $(STAMP)

$(STAMP): requirements.txt constraints.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt -c constraints.txt 2>&1 \
		| { grep -v "^WARNING: Location" || true; }
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e . 2>&1 \
		| { grep -v "^WARNING: Location" || true; }
	$(BIN)/python -c "import course_lib, torch, tensorflow, nbgrader, jupyter_book"
	@rm -f $(VENV)/.installed-*
	@touch $@

book: $(STAMP)
	$(BIN)/python -m course_grading.launch --check
	$(BIN)/jupyter-book build . --builder html
	@echo "Book: file://$(CURDIR)/_build/html/index.html"

# Two pytest workers on two cores: one math thread each (PyTorch, numpy), else they fight.
test: $(STAMP) browser sandbox node postgres pdftools
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadscope --durations=20

# Headless Chromium (Debian's package) lets tests/test_book.py check the book as a reader sees
# it. Installed when missing and this user can; otherwise that one test is skipped.
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's chromium for the book test..."; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	      || echo "could not install chromium: the headless-browser book check will be skipped"; \
	  else echo "chromium not found: the headless-browser book check will be skipped"; fi; }

# The printable edition: a single-page build (committed outputs, warnings are errors) printed
# by headless Chromium once MathJax has typeset it (scripts/print_pdf.py, _static/print.css).
pdf: $(STAMP) browser pdftools
	$(BIN)/python scripts/print_pdf.py --out _build/pdf/book.pdf

# Debian's poppler-utils (pdfinfo, pdftotext) let tests/test_pdf.py read the printed book, and
# fonts-nanum gives Chromium Korean glyphs (the glossary). Installed when missing and this user
# can; otherwise the PDF test is skipped, or Korean prints as empty boxes.
pdftools:
	@{ command -v pdftotext >/dev/null && fc-list :lang=ko 2>/dev/null | grep -q .; } || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's poppler-utils and fonts-nanum for the PDF..."; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	        poppler-utils fonts-nanum >/dev/null; } \
	      || echo "could not install poppler-utils/fonts-nanum: the PDF test will be skipped"; \
	  else echo "pdftotext or a Korean font not found: the PDF test will be skipped"; fi; }

# Debian's bubblewrap sandboxes the student kernel when grading (course_grading.sandbox).
# Installed when missing and this user can; otherwise tests/test_sandbox.py is skipped.
sandbox:
	@command -v bwrap >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's bubblewrap for the grading sandbox..."; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null; } \
	      || echo "could not install bubblewrap: the sandbox tests will be skipped"; \
	  else echo "bubblewrap not found: the sandbox tests will be skipped"; fi; }

# npm's configurable-http-proxy (package-lock.json), the proxy of the classroom's JupyterHub.
# Node and npm come from Debian when missing and this user can; otherwise the hub test is skipped.
node: node_modules/.bin/configurable-http-proxy
node_modules/.bin/configurable-http-proxy: package.json package-lock.json
	@command -v npm >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's nodejs and npm for the classroom's proxy..."; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; } \
	      || echo "could not install npm: the classroom (hub) test will be skipped"; \
	  else echo "npm not found: make classroom cannot start, the hub test will be skipped"; fi; }
	@if command -v npm >/dev/null; then npm ci --no-audit --no-fund --loglevel=error \
	  && touch $@ || echo "npm ci failed: the classroom (hub) test will be skipped"; fi

# Debian's PostgreSQL for tests/test_classroom_db.py (the DB_URL=postgresql://... gradebook).
# Installed when missing and this user can; otherwise that test is skipped.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's postgresql for the gradebook test..."; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; } \
	      || echo "could not install postgresql: the PostgreSQL gradebook test will be skipped"; \
	  else echo "postgresql not found: the PostgreSQL gradebook test will be skipped"; fi; }

# The classroom: a local JupyterHub (course_grading/classroom/hub.py) with an instructor account
# (you, in this folder, with the formgrader) and STUDENTS= (one unix user each when run as
# root), the course's .venv as kernel and its own exchange (EXCHANGE=, default .classroom/exchange).
# Prints the URL and the accounts' passwords. make classroom STUDENTS=alice,bob PORT=8000
STUDENTS ?= student1,student2
PORT ?= 8000
classroom: $(STAMP) node sandbox
	$(BIN)/python -m course_grading.classroom.hub --course $(CURDIR) --students $(STUDENTS) \
		--port $(PORT) $(if $(EXCHANGE),--exchange $(EXCHANGE))

lab: $(STAMP)
	$(BIN)/jupyter lab

# A= picks assignments, e.g. make exercises A=03_optimizers (default: all of them).
exercises: $(STAMP)
	$(BIN)/python -m course_grading.release $(A)

# Re-execute every lesson and instructor notebook in place (authors: after changing one, commit
# the outputs). NB= selects notebooks, e.g. make notebooks NB=chapters/01_perceptrons/*.ipynb
NB ?= chapters/*/*.ipynb solutions/*/*.ipynb
notebooks: $(STAMP)
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace \
		--ExecutePreprocessor.record_timing=False --ExecutePreprocessor.timeout=600 $(NB)

# Students: run an exercise notebook's visible tests in your own kernel; prints points per
# Part and every failing test; exits 1 when one fails (`nbgrader validate` exits 0 then).
# make check NB=chapters/01_perceptrons/exercises/01_exercises.ipynb
check: $(STAMP)
	$(if $(filter command line environment,$(origin NB)),,$(error name the notebook: \
	  make check NB=chapters/01_perceptrons/exercises/01_exercises.ipynb))
	$(BIN)/python -m course_grading.classroom.check $(NB)

# Instructors: feedback for every graded submission of A= (points per Part, failure messages,
# hidden tests' source hidden unless SHOW_HIDDEN_TESTS=1), released to the course exchange
# when there is one, else left in feedback/<student>/<A>/. make feedback A=01_perceptrons
feedback: $(STAMP)
	$(if $(A),,$(error name the assignment: make feedback A=01_perceptrons))
	$(BIN)/python -m course_grading.classroom.feedback $(A) $(if $(filter 1 yes true,\
		$(SHOW_HIDDEN_TESTS)),--show-hidden-tests)

# Retrain the course's own pretrained models (Chapter 7) and rewrite course_lib/weights/ with
# their model cards; seeded, about one CPU minute per model.
pretrained: $(STAMP)
	$(BIN)/python scripts/pretrain.py

# Run every notebook (nbval), the CUDA tests and the training-heavy notebooks scaled up on the
# device course_lib picks, and write the report (on a CPU it says so). CPU_JUNIT= adds the CPU
# time of each notebook from a `make test` run of the same commit (pytest --junitxml).
gpu-report: $(STAMP)
	$(BIN)/python scripts/gpu_report.py run --out _build/gpu-report --jobs $(J)
	$(BIN)/python scripts/gpu_report.py render _build/gpu-report/results.json \
		--page _build/gpu-report/gpu-report.md $(if $(CPU_JUNIT),--cpu-junit $(CPU_JUNIT))
	@echo "Report: _build/gpu-report/gpu-report.md (copy it to appendix/ to publish it)"

# The classroom, one command per step (instructor/running-the-course.md); each sets up .venv and
# the gradebook itself, prints a summary table and exits 1 only when the instructor must act.
#   make release A=01_perceptrons [DUE="2026-12-11 23:59 UTC"] [EXCHANGE=dir]
#   make collect A=01_perceptrons [ZIP=canvas-download.zip]    (else from EXCHANGE=)
#   make grade   A=01_perceptrons [J=2]                        (parallel, sandboxed)
#   make grades  [A=01_perceptrons]                            (grades.csv, a status per part)
#   make extend  A=01_perceptrons STUDENT=alice HOURS=48
CLASSROOM := $(BIN)/python -m course_grading.classroom
need-a = $(if $(A),,$(error name the assignment, e.g. make $@ A=01_perceptrons))
release: $(STAMP)
	$(need-a)
	$(CLASSROOM) release $(A) $(if $(DUE),--due "$(DUE)")
collect: $(STAMP)
	$(need-a)
	$(CLASSROOM) collect $(A) $(if $(ZIP),--zip "$(ZIP)")
grade: $(STAMP) sandbox
	$(need-a)
	$(CLASSROOM) grade $(A) -j $(J)
grades: $(STAMP)
	$(CLASSROOM) grades $(A)
extend: $(STAMP)
	$(need-a)
	$(if $(STUDENT),,$(error name the student: make extend A=... STUDENT=alice HOURS=48))
	$(CLASSROOM) extend $(A) $(STUDENT) --hours $(or $(HOURS),0)

lock:
	rm -rf /tmp/course-lock-venv && $(PYTHON) -m venv /tmp/course-lock-venv
	/tmp/course-lock-venv/bin/python -m pip install --quiet -r requirements.txt
	{ echo "# Exact versions of every package in the course environment (pip freeze of a clean install of"; \
	  echo "# requirements.txt on Linux x86_64, Python 3.11). Regenerate with: make lock"; \
	  /tmp/course-lock-venv/bin/python -m pip freeze; } > constraints.txt

clean:
	rm -rf _build .pytest_cache .nbgrader-build
