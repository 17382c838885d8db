-- Indexes that fit the hot lookups (issue 12); tests/query_plans.rs checks every hot statement's
-- plan against them on both databases.

-- The artifact lookup behind review and registration: `project = ? and digest = ?` (repository
-- optional), first by id. Without it the lookup walked the project's whole `(project, id)` range.
create index artifacts_project_digest on artifacts (project, digest, id);

-- Listings by app page by id: with id in the index the page comes in order, so the planner no
-- longer prefers walking the project's `(project, id)` range to avoid a sort.
drop index artifacts_project_app;
create index artifacts_project_app on artifacts (project, app, id);

-- "Is a job for this artifact already waiting?" on every enqueue, without reading every
-- pending job.
create index verification_jobs_artifact_pending on verification_jobs (artifact_id)
    where status = 'pending';
