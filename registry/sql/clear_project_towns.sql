-- Remove the town shares of the projects in match_input (key = project id), about to be
-- written again from match_shares (store_project_towns.sql).
DELETE FROM project_towns pt
USING match_input m
WHERE pt.project_id = m.key
