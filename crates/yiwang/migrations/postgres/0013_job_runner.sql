-- Which node ran a finished job, so running N nodes can be shown to run each job once.
ALTER TABLE jobs ADD COLUMN finished_by TEXT;
