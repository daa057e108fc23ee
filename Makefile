# Koolivärav: the one entry point. Needs only Python 3.11+ (and make) on the machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
DEV := DEBUG=true
# The demo's stand-in for TARA (koolivarav.identity.standin), on the next port: DEBUG only.
IDP_PORT ?= $(shell echo $$(($(PORT) + 1)))
DEMO_IDENTITY := TARA_ISSUER=http://127.0.0.1:$(IDP_PORT) TARA_CLIENT_ID=demo-tara TARA_CLIENT_SECRET=demo-tara-secret

.PHONY: setup run test test-fast lint format messages compile-messages bench bench-september bench-instructions security clean

$(STAMP): requirements/dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	@touch $(STAMP)

# The compiled catalogues (.mo) are build output, made from the committed .po files.
compile-messages: $(STAMP)
	@$(BIN)/pybabel compile --domain django --directory locale --statistics 2>&1 | grep -v '^compiling' || true

# Test-only tools for the browser journeys (the Nu HTML Checker); skipped where npm is missing.
node_modules/.installed: package-lock.json
	@if command -v npm >/dev/null; then npm ci --no-audit --no-fund --loglevel=error && touch $@; \
	  else echo "npm not installed: the HTML checks of the browser journeys will be skipped"; fi

setup: $(STAMP) compile-messages

## make run: set everything up and start the site with the demo school on SQLite.
run: setup
	@mkdir -p var/static  # the demo's SQLite file and static files (settings create no folders)
	$(DEV) $(BIN)/python manage.py migrate --no-input
	$(DEV) $(BIN)/python manage.py createcachetable
	$(DEV) $(DEMO_IDENTITY) $(BIN)/python manage.py load_demo --port $(PORT)
	@echo "Starting the e-mail worker (e-mails are printed here), the stand-in TARA at http://127.0.0.1:$(IDP_PORT)/ and the site at http://127.0.0.1:$(PORT)/"
	@$(DEV) $(BIN)/python manage.py run_worker & worker=$$!; \
	  $(DEV) $(BIN)/python manage.py run_identity_standin --port $(IDP_PORT) & idp=$$!; \
	  trap 'kill $$worker $$idp 2>/dev/null' EXIT INT TERM; \
	  $(DEV) $(DEMO_IDENTITY) $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

## make test: set up and run the whole suite (DATABASE_URL chooses the database; SQLite by default).
test: setup node_modules/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy koolivarav config
	$(BIN)/djlint koolivarav/templates koolivarav/*/templates --lint
	$(DEV) $(BIN)/python manage.py makemigrations --check --dry-run
	@if command -v xgettext >/dev/null; then $(MAKE) --no-print-directory messages >/dev/null && git diff --exit-code -I 'POT-Creation-Date' -- locale; else echo "gettext not installed: translation catalogues not checked"; fi

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## make messages: refresh the translation catalogues after changing user-facing text (needs gettext).
messages: setup
	$(DEV) $(BIN)/python manage.py makemessages --locale et --locale en --locale ru --no-location --no-obsolete --ignore '.venv/*' --ignore 'var/*' --ignore 'node_modules/*' --ignore 'test-results/*'

## make bench: the product beside bare Django and django-allauth (../shared/bench-peer), in
## interleaved rounds, then the product alone (about 15 minutes); writes docs/benchmarks.md.
bench: setup
	@command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq wrk); }
	$(BIN)/python bench/run.py

## make bench-september: 300 schools, 150,000 students, 20,000 applications in ten minutes while
## administrators approve (BENCH_SEPTEMBER_SCALE=0.1: a tenth of everything, in one minute);
## writes docs/benchmarks-september.md.
bench-september: setup
	$(BIN)/python bench/september.py

## make bench-instructions: instructions per request of five pages under valgrind's callgrind,
## independent of how busy the machine is: compare two commits with it (bench/instructions.py).
bench-instructions: setup
	@command -v valgrind >/dev/null || { apt-get install -y -qq valgrind >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq valgrind); }
	$(BIN)/python bench/instructions.py

## make security: bandit, then wapiti and sqlmap against the running site; writes docs/security-scan.md.
security: setup
	@command -v wapiti >/dev/null && command -v sqlmap >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wapiti sqlmap >/dev/null; }
	$(BIN)/python security/run.py

clean:
	rm -rf $(VENV) var/static .pytest_cache .mypy_cache .ruff_cache
