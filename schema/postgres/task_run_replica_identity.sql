-- Logical replication must see the full old row on UPDATE and DELETE (and unchanged TOASTed values such as
-- large payload/output text), so the TaskRun table needs REPLICA IDENTITY FULL. The service checks this.
ALTER TABLE public."TaskRun" REPLICA IDENTITY FULL;
