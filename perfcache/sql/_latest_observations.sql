-- Each teacher-week's latest observation: a late correction replaces the row it
-- corrects (latest recorded_at wins; the observation id breaks ties).
(
  SELECT * EXCEPT (revision_rank)
  FROM (
    SELECT
      o.*,
      ROW_NUMBER() OVER (
        PARTITION BY o.teacher_id, o.week_start
        ORDER BY o.recorded_at DESC, o.observation_id DESC
      ) AS revision_rank
    FROM `{warehouse}.weekly_observations` AS o
  )
  WHERE revision_rank = 1
)
