# Deployment: `make package` (offline once `make test` has set up the venv) and
# `make deploy STAGE=dev|prod REGION=...` (AWS CLI). See infra/README.md.
STAGE  ?= dev
REGION ?= $(or $(AWS_REGION),$(AWS_DEFAULT_REGION))
STACK  ?= unification-$(STAGE)
ARTIFACT_BUCKET ?=
ALARM_TOPIC_ARN ?=

.PHONY: package deploy

# requirements.txt (from pyproject.toml), merge template, then `chalice package`:
# dist/$(STAGE)/sam.json + dist/$(STAGE)/deployment.zip.
package: $(STAMP)
	$(BIN)/python infra/build.py --stage $(STAGE) $(if $(REGION),--region $(REGION))

deploy: package
	STAGE='$(STAGE)' REGION='$(REGION)' STACK='$(STACK)' ARTIFACT_BUCKET='$(ARTIFACT_BUCKET)' \
	ALARM_TOPIC_ARN='$(ALARM_TOPIC_ARN)' infra/deploy.sh
