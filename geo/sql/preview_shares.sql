-- The computed shares of the one geometry in match_input (the edit form's preview), with the
-- town names, largest share first. Run after compute_shares.sql.
SELECT s.town_code AS code, t.name, s.district_code, s.share, s.length_km, s.area_km2
FROM match_shares s
JOIN towns t ON t.code = s.town_code AND t.valid_to IS NULL
ORDER BY s.share DESC, s.town_code
