"""Teacher-performance dashboard cache: BigQuery into Firestore, served by an API."""
