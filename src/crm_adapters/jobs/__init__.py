"""Who runs background jobs, by mode: the inline runner, the polling worker, and the Dramatiq
worker with its waker and sweeper (the jobs table itself is crm_adapters.sql.jobs)."""
