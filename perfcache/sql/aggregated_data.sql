-- Weekly and monthly aggregates per school, per sector and for the whole network.
-- scope_id names the school, the sector, or 'all', so the key never holds a NULL.
WITH latest AS {latest_observations},
periods AS (
  SELECT 'weekly' AS period, o.week_start AS period_start, o.*, s.sector_id
  FROM latest AS o
  JOIN `{warehouse}.schools` AS s ON s.school_id = o.school_id
  UNION ALL
  SELECT 'monthly' AS period, DATE_TRUNC(o.week_start, MONTH) AS period_start, o.*, s.sector_id
  FROM latest AS o
  JOIN `{warehouse}.schools` AS s ON s.school_id = o.school_id
)
SELECT
  period,
  'school' AS level,
  school_id AS scope_id,
  school_id,
  sector_id,
  period_start,
  COUNT(DISTINCT teacher_id) AS teacher_count,
  COUNT(*) AS observation_count,
  AVG(observation_score) AS avg_observation_score,
  AVG(attendance_rate) AS avg_attendance_rate,
  AVG(student_assessment_avg) AS avg_student_assessment,
  SUM(lesson_plans_submitted) AS total_lesson_plans,
  SUM(coaching_sessions) AS total_coaching_sessions
FROM periods
GROUP BY period, school_id, sector_id, period_start
UNION ALL
SELECT
  period,
  'sector' AS level,
  sector_id AS scope_id,
  CAST(NULL AS STRING) AS school_id,
  sector_id,
  period_start,
  COUNT(DISTINCT teacher_id) AS teacher_count,
  COUNT(*) AS observation_count,
  AVG(observation_score) AS avg_observation_score,
  AVG(attendance_rate) AS avg_attendance_rate,
  AVG(student_assessment_avg) AS avg_student_assessment,
  SUM(lesson_plans_submitted) AS total_lesson_plans,
  SUM(coaching_sessions) AS total_coaching_sessions
FROM periods
GROUP BY period, sector_id, period_start
UNION ALL
SELECT
  period,
  'overall' AS level,
  'all' AS scope_id,
  CAST(NULL AS STRING) AS school_id,
  CAST(NULL AS STRING) AS sector_id,
  period_start,
  COUNT(DISTINCT teacher_id) AS teacher_count,
  COUNT(*) AS observation_count,
  AVG(observation_score) AS avg_observation_score,
  AVG(attendance_rate) AS avg_attendance_rate,
  AVG(student_assessment_avg) AS avg_student_assessment,
  SUM(lesson_plans_submitted) AS total_lesson_plans,
  SUM(coaching_sessions) AS total_coaching_sessions
FROM periods
GROUP BY period, period_start
