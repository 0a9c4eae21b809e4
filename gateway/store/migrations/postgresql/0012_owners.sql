-- Manifests belong to an owner (a team): each records the webhooks it manages under its own
-- name, so two teams' manifests on one account never take each other's. '' is the owner of
-- a manifest that names none (every record before owners).
ALTER TABLE managed ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE managed DROP CONSTRAINT managed_pkey;
ALTER TABLE managed ADD PRIMARY KEY (account, owner, key);
