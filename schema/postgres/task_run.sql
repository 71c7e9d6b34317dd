-- PostgreSQL schema for public."TaskRun", shaped like Trigger.dev's Prisma model (model TaskRun).
-- Column names are the camel-case PostgreSQL names Prisma generates (pgoutput sends these names), so the
-- Prisma field "workerQueue" is the column "masterQueue". Only the columns the replication reads plus the
-- rest of the model's scalar columns are included; foreign keys to tables we do not ship are omitted.
-- Idempotent: safe to run repeatedly.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                   WHERE t.typname = 'TaskRunStatus' AND n.nspname = 'public') THEN
        CREATE TYPE public."TaskRunStatus" AS ENUM (
            'DELAYED',
            'PENDING',
            'PENDING_VERSION',
            'WAITING_FOR_DEPLOY',
            'DEQUEUED',
            'EXECUTING',
            'WAITING_TO_RESUME',
            'RETRYING_AFTER_FAILURE',
            'PAUSED',
            'CANCELED',
            'INTERRUPTED',
            'COMPLETED_SUCCESSFULLY',
            'COMPLETED_WITH_ERRORS',
            'SYSTEM_FAILURE',
            'CRASHED',
            'EXPIRED',
            'TIMED_OUT'
        );
    END IF;
END
$$;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                   WHERE t.typname = 'RuntimeEnvironmentType' AND n.nspname = 'public') THEN
        CREATE TYPE public."RuntimeEnvironmentType" AS ENUM (
            'PRODUCTION',
            'STAGING',
            'DEVELOPMENT',
            'PREVIEW'
        );
    END IF;
END
$$;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                   WHERE t.typname = 'RunEngineVersion' AND n.nspname = 'public') THEN
        CREATE TYPE public."RunEngineVersion" AS ENUM (
            'V1',
            'V2'
        );
    END IF;
END
$$;

CREATE TABLE IF NOT EXISTS public."TaskRun" (
    "id"                              text NOT NULL,
    "number"                          integer NOT NULL DEFAULT 0,
    "friendlyId"                      text NOT NULL,
    "engine"                          public."RunEngineVersion" NOT NULL DEFAULT 'V1',
    "status"                          public."TaskRunStatus" NOT NULL DEFAULT 'PENDING',
    "statusReason"                    text,

    "idempotencyKey"                  text,
    "idempotencyKeyExpiresAt"         timestamp(3) without time zone,
    "idempotencyKeyOptions"           jsonb,

    "taskIdentifier"                  text NOT NULL,
    "isTest"                          boolean NOT NULL DEFAULT false,

    "payload"                         text NOT NULL,
    "payloadType"                     text NOT NULL DEFAULT 'application/json',
    "context"                         jsonb,
    "traceContext"                    jsonb,
    "traceId"                         text NOT NULL,
    "spanId"                          text NOT NULL,
    "parentSpanId"                    text,

    "runtimeEnvironmentId"            text NOT NULL,
    "environmentType"                 public."RuntimeEnvironmentType",
    "projectId"                       text NOT NULL,
    "organizationId"                  text,

    "queue"                           text NOT NULL,
    "lockedQueueId"                   text,
    "masterQueue"                     text NOT NULL DEFAULT 'main',
    "secondaryMasterQueue"            text,
    "region"                          text,
    "attemptNumber"                   integer,

    "createdAt"                       timestamp(3) without time zone NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt"                       timestamp(3) without time zone NOT NULL,
    "queueTimestamp"                  timestamp(3) without time zone,
    "startedAt"                       timestamp(3) without time zone,
    "executedAt"                      timestamp(3) without time zone,
    "completedAt"                     timestamp(3) without time zone,
    "delayUntil"                      timestamp(3) without time zone,
    "queuedAt"                        timestamp(3) without time zone,
    "expiredAt"                       timestamp(3) without time zone,
    "ttl"                             text,
    "maxDurationInSeconds"            integer,

    "lockedAt"                        timestamp(3) without time zone,
    "lockedById"                      text,
    "lockedToVersionId"               text,
    "lockedRetryConfig"               jsonb,
    "maxAttempts"                     integer,
    "priorityMs"                      integer NOT NULL DEFAULT 0,
    "concurrencyKey"                  text,
    "oneTimeUseToken"                 text,
    "taskEventStore"                  text NOT NULL DEFAULT 'taskEvent',

    "scheduleId"                      text,
    "scheduleInstanceId"              text,
    "batchId"                         text,
    "rootTaskRunId"                   text,
    "parentTaskRunId"                 text,
    "parentTaskRunAttemptId"          text,
    "depth"                           integer NOT NULL DEFAULT 0,
    "resumeParentOnCompletion"        boolean NOT NULL DEFAULT false,
    "runChainState"                   jsonb,
    "replayedFromTaskRunFriendlyId"   text,
    "bulkActionGroupIds"              text[] DEFAULT ARRAY[]::text[],

    "runTags"                         text[],
    "taskVersion"                     text,
    "sdkVersion"                      text,
    "cliVersion"                      text,
    "machinePreset"                   text,
    "usageDurationMs"                 integer NOT NULL DEFAULT 0,
    "costInCents"                     double precision NOT NULL DEFAULT 0,
    "baseCostInCents"                 double precision NOT NULL DEFAULT 0,
    "planType"                        text,
    "isWarmStart"                     boolean,

    "metadata"                        text,
    "metadataType"                    text NOT NULL DEFAULT 'application/json',
    "metadataVersion"                 integer NOT NULL DEFAULT 1,
    "seedMetadata"                    text,
    "seedMetadataType"                text NOT NULL DEFAULT 'application/json',

    "output"                          text,
    "outputType"                      text NOT NULL DEFAULT 'application/json',
    "error"                           jsonb,
    "annotations"                     jsonb,

    CONSTRAINT "TaskRun_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX IF NOT EXISTS "TaskRun_friendlyId_key" ON public."TaskRun" ("friendlyId");
CREATE INDEX IF NOT EXISTS "TaskRun_createdAt_idx" ON public."TaskRun" USING brin ("createdAt");
CREATE INDEX IF NOT EXISTS "TaskRun_runtimeEnvironmentId_createdAt_idx"
    ON public."TaskRun" ("runtimeEnvironmentId", "createdAt" DESC);
CREATE INDEX IF NOT EXISTS "TaskRun_parentTaskRunId_idx" ON public."TaskRun" ("parentTaskRunId");
CREATE INDEX IF NOT EXISTS "TaskRun_rootTaskRunId_idx" ON public."TaskRun" ("rootTaskRunId");
