-- Grants belong to versions, not apps: approving a new version must not
-- change what the serving one may do, and a rollback brings back the grants
-- of the version it restores. Every version that passed review (the states
-- of `VersionState::passed_review`) without grants of its own takes its
-- app's, which is what it could do until now; then the app-wide table goes.
UPDATE versions
SET record = jsonb_set(versions.record, '{grants}', grants.record)
FROM grants
WHERE grants.app = versions.app
  AND jsonb_typeof(versions.record -> 'grants') IS DISTINCT FROM 'object'
  AND versions.record ->> 'state' IN ('approved', 'canary', 'live', 'retired');

DROP TABLE grants;
