-- The values the dashboard's filters offer, one row per value and school so the API
-- can scope options to what a caller may see (it removes repeats across schools).
WITH staffed AS (
  SELECT DISTINCT a.school_id, t.grade, t.subject
  FROM `{warehouse}.teacher_assignments` AS a
  JOIN `{warehouse}.teachers` AS t ON t.teacher_id = a.teacher_id
)
SELECT 'school' AS kind, s.school_id AS value, s.school_name AS label, s.school_id, s.sector_id
FROM `{warehouse}.schools` AS s
UNION ALL
SELECT 'sector' AS kind, sec.sector_id AS value, sec.sector_name AS label, s.school_id, s.sector_id
FROM `{warehouse}.schools` AS s
JOIN `{warehouse}.sectors` AS sec ON sec.sector_id = s.sector_id
UNION ALL
SELECT 'grade' AS kind, st.grade AS value, st.grade AS label, st.school_id, s.sector_id
FROM staffed AS st
JOIN `{warehouse}.schools` AS s ON s.school_id = st.school_id
GROUP BY st.grade, st.school_id, s.sector_id
UNION ALL
SELECT 'subject' AS kind, st.subject AS value, st.subject AS label, st.school_id, s.sector_id
FROM staffed AS st
JOIN `{warehouse}.schools` AS s ON s.school_id = st.school_id
GROUP BY st.subject, st.school_id, s.sector_id
