#!/usr/bin/env bash
# Deploy dist/$STAGE (written by `make package`) with the AWS CLI. Called by `make deploy`.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${STAGE:?STAGE is required (dev or prod)}"
: "${REGION:?REGION is required: make deploy STAGE=$STAGE REGION=ap-northeast-1 (or export AWS_REGION)}"
STACK="${STACK:-unification-$STAGE}"
TEMPLATE="dist/$STAGE/sam.json"
PACKAGED="dist/$STAGE/packaged.json"
export AWS_REGION="$REGION" AWS_DEFAULT_REGION="$REGION"

[[ -f "$TEMPLATE" ]] || { echo "missing $TEMPLATE: run make package STAGE=$STAGE" >&2; exit 2; }

# The credentials live in SSM (SecureString); the functions read them at cold start.
# (ACCESS_SECRET_PREVIOUS and MEMBER_HASH_SECRET_PREVIOUS exist only during a rotation.)
SSM_PATH="/unification/$STAGE/"
missing=$(aws ssm get-parameters --names "${SSM_PATH}ACCESS_KEY" "${SSM_PATH}ACCESS_SECRET" \
  "${SSM_PATH}PLUGIN_KEY" "${SSM_PATH}MEMBER_HASH_SECRET" --query 'InvalidParameters' --output text)
if [[ -n "$missing" && "$missing" != "None" ]]; then
  echo "missing SSM parameters: $missing" >&2
  echo "create them once, e.g.: aws ssm put-parameter --type SecureString --name ${SSM_PATH}ACCESS_SECRET --value ..." >&2
  exit 2
fi

ACCOUNT=$(aws sts get-caller-identity --query Account --output text)

# API Gateway writes the stage's access log through one role per account and region
# (an account setting, not a stack's): set it up once if nothing is set yet.
if [[ "$(aws apigateway get-account --query cloudwatchRoleArn --output text)" =~ ^(None|)$ ]]; then
  LOG_ROLE=unification-apigateway-cloudwatch
  if ! aws iam get-role --role-name "$LOG_ROLE" >/dev/null 2>&1; then
    echo "creating IAM role $LOG_ROLE (API Gateway's access to CloudWatch Logs, once per account)"
    aws iam create-role --role-name "$LOG_ROLE" --assume-role-policy-document \
      '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"apigateway.amazonaws.com"},"Action":"sts:AssumeRole"}]}' >/dev/null
    aws iam attach-role-policy --role-name "$LOG_ROLE" \
      --policy-arn arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs
  fi
  LOG_ROLE_ARN=$(aws iam get-role --role-name "$LOG_ROLE" --query Role.Arn --output text)
  for attempt in 1 2 3 4 5 6; do  # a new role takes a few seconds to be usable
    aws apigateway update-account --patch-operations "op=replace,path=/cloudwatchRoleArn,value=$LOG_ROLE_ARN" \
      >/dev/null 2>&1 && break
    [[ $attempt == 6 ]] && { echo "could not set API Gateway's CloudWatch role $LOG_ROLE_ARN" >&2; exit 2; }
    sleep 10
  done
fi
BUCKET="${ARTIFACT_BUCKET:-unification-artifacts-$ACCOUNT-$REGION}"
if ! aws s3api head-bucket --bucket "$BUCKET" 2>/dev/null; then
  echo "creating artifact bucket $BUCKET"
  aws s3 mb "s3://$BUCKET" --region "$REGION"
  aws s3api put-public-access-block --bucket "$BUCKET" --public-access-block-configuration \
    BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
fi

aws cloudformation package --template-file "$TEMPLATE" --s3-bucket "$BUCKET" --s3-prefix "$STACK" \
  --output-template-file "$PACKAGED" --use-json
aws cloudformation deploy --template-file "$PACKAGED" --stack-name "$STACK" \
  --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND --no-fail-on-empty-changeset \
  --parameter-overrides "AlarmTopicArn=${ALARM_TOPIC_ARN:-}" --tags app=unification "stage=$STAGE"
aws cloudformation describe-stacks --stack-name "$STACK" --query 'Stacks[0].Outputs' --output table
DASHBOARD=$(aws cloudformation describe-stacks --stack-name "$STACK" \
  --query "Stacks[0].Outputs[?OutputKey=='DashboardName'].OutputValue" --output text)
echo "dashboard: https://$REGION.console.aws.amazon.com/cloudwatch/home?region=$REGION#dashboards:name=$DASHBOARD"
