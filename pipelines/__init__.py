"""Stage entry points and configuration of the replication pipelines (one folder per paper)."""
