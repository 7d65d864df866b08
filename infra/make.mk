# Deployment and operations: `make package` (offline once `make test` has set up the venv),
# `make deploy STAGE=dev|prod REGION=...` and `make replay-failures` (AWS CLI credentials).
# See infra/README.md.
STAGE  ?= dev
REGION ?= $(or $(AWS_REGION),$(AWS_DEFAULT_REGION))
STACK  ?= unification-$(STAGE)
ARTIFACT_BUCKET ?=
ALARM_TOPIC_ARN ?=
REPLAY_ARGS ?=
# `make replay-failures` without STAGE (or with STAGE=local) replays the local stack's parked failures.
REPLAY_STAGE := $(if $(filter file,$(origin STAGE)),local,$(STAGE))

.PHONY: package deploy replay-failures

# requirements.txt (from pyproject.toml), merge template, then `chalice package`:
# dist/$(STAGE)/sam.json + dist/$(STAGE)/deployment.zip.
package: $(STAMP)
	$(BIN)/python infra/build.py --stage $(STAGE) $(if $(REGION),--region $(REGION))

deploy: package
	STAGE='$(STAGE)' REGION='$(REGION)' STACK='$(STACK)' ARTIFACT_BUCKET='$(ARTIFACT_BUCKET)' \
	ALARM_TOPIC_ARN='$(ALARM_TOPIC_ARN)' infra/deploy.sh

# Stream records the consumer gave up on, re-driven through the real consumer (idempotent);
# REPLAY_ARGS=--dry-run reports without invoking, --forget-lost drops messages past retention.
replay-failures: $(STAMP)
ifeq ($(REPLAY_STAGE),local)
	$(BIN)/python -m chalicelib.local.replay $(REPLAY_ARGS)
else
	$(BIN)/python -m infra.replay --stage $(REPLAY_STAGE) --stack $(STACK) $(if $(REGION),--region $(REGION)) $(REPLAY_ARGS)
endif
