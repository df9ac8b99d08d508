-- One row per school: its roster today and its averages over every observed week.
WITH latest AS {latest_observations},
roster AS (
  SELECT school_id, COUNT(DISTINCT teacher_id) AS teacher_count
  FROM `{warehouse}.teacher_assignments`
  WHERE valid_to IS NULL
  GROUP BY school_id
),
observed AS (
  SELECT
    school_id,
    COUNT(*) AS observation_count,
    AVG(observation_score) AS avg_observation_score,
    AVG(attendance_rate) AS avg_attendance_rate,
    AVG(student_assessment_avg) AS avg_student_assessment,
    SUM(lesson_plans_submitted) AS total_lesson_plans,
    SUM(coaching_sessions) AS total_coaching_sessions,
    MAX(week_start) AS last_week_start
  FROM latest
  GROUP BY school_id
)
SELECT
  s.school_id,
  s.school_name,
  s.sector_id,
  sec.sector_name,
  s.city,
  COALESCE(r.teacher_count, 0) AS teacher_count,
  COALESCE(o.observation_count, 0) AS observation_count,
  o.avg_observation_score,
  o.avg_attendance_rate,
  o.avg_student_assessment,
  o.total_lesson_plans,
  o.total_coaching_sessions,
  o.last_week_start
FROM `{warehouse}.schools` AS s
JOIN `{warehouse}.sectors` AS sec ON sec.sector_id = s.sector_id
LEFT JOIN roster AS r ON r.school_id = s.school_id
LEFT JOIN observed AS o ON o.school_id = s.school_id
