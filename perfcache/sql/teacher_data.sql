-- One row per teacher per week, the latest correction of each observation winning.
-- The school is the one the teacher taught at that week (teachers move mid-year).
WITH latest AS {latest_observations}
SELECT
  o.teacher_id,
  t.full_name AS teacher_name,
  o.school_id,
  s.school_name,
  s.sector_id,
  sec.sector_name,
  t.grade,
  t.subject,
  o.week_start,
  o.lesson_plans_submitted,
  o.observation_score,
  o.attendance_rate,
  o.student_assessment_avg,
  o.coaching_sessions,
  o.recorded_at AS updated_at
FROM latest AS o
JOIN `{warehouse}.teachers` AS t ON t.teacher_id = o.teacher_id
JOIN `{warehouse}.schools` AS s ON s.school_id = o.school_id
JOIN `{warehouse}.sectors` AS sec ON sec.sector_id = s.sector_id
