# gosmith developer entry points. `make test` installs everything the suite needs and runs it.
.PHONY: test install tools lint demo generate golden go-deps
test: ## Install Python deps and tools, then run the whole test suite
	bash scripts/test.sh
install: ## Create .venv and install gosmith with its test dependencies
	bash scripts/bootstrap.sh
tools: ## Build/cache the external tools (helm, golangci-lint, ...) in .tools/
	bash scripts/tools.sh
lint: install ## ruff over all Python paths and mypy over the package (the same step `make test` runs)
	bash scripts/lint.sh
demo: install ## Generate a service with defaults into ./my-service
	.venv/bin/gosmith new my-service --defaults
generate: install ## Rewrite every file generated from the rule table and the sources (surfaces, reference pages, golden renders)
	.venv/bin/python scripts/gen_surfaces.py
	.venv/bin/python scripts/gen_docs.py
	.venv/bin/python scripts/golden.py
golden: install ## Regenerate the committed golden renders in tests/golden
	.venv/bin/python scripts/golden.py
go-deps: install ## Regenerate template/go.mod.jinja and go.sum.jinja from the pinned modules (needs Go + the module proxy)
	.venv/bin/python scripts/go_deps.py
