INSERT INTO public."TaskRun" (id, "friendlyId", "taskIdentifier", payload, "traceId", "spanId", "runtimeEnvironmentId", "projectId", "organizationId", "environmentType", queue, "updatedAt", status, "runTags", output, error, "createdAt")
SELECT 'bulk_' || g, 'friendly_' || g, 'my-task', '{"n":' || g || ',"text":"some payload text here"}', 'trace' || g, 'span' || g, 'env_' || (g % 10), 'proj_1', 'org_1', 'PRODUCTION', 'q', now(), 'COMPLETED_SUCCESSFULLY', ARRAY['a','b'], '{"result":' || g || '}', NULL, now() - (g || ' seconds')::interval
FROM generate_series(1, 100000) g;
