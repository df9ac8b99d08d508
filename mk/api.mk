# The API's generated files.

.PHONY: indexes indexes-check

indexes: ## regenerate infra/terraform/firestore.indexes.json from the datasets
	$(VENV)/bin/python -m perfcache.api.indexes

indexes-check: ## fail when the committed index file is out of date
	$(VENV)/bin/python -m perfcache.api.indexes --check
