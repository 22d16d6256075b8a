CREATE TABLE jobs (
	number INTEGER NOT NULL, 
	id VARCHAR(36) NOT NULL, 
	owner VARCHAR(64) NOT NULL, 
	model VARCHAR(64) NOT NULL, 
	priority INTEGER DEFAULT '0' NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	request JSON NOT NULL, 
	params JSON NOT NULL, 
	cost FLOAT, 
	result JSON, 
	error JSON, 
	stage VARCHAR(32), 
	step INTEGER DEFAULT '0' NOT NULL, 
	total INTEGER DEFAULT '0' NOT NULL, 
	cancel_requested BOOLEAN DEFAULT 0 NOT NULL, 
	attempts INTEGER DEFAULT '0' NOT NULL, 
	max_attempts INTEGER DEFAULT '3' NOT NULL, 
	worker_id VARCHAR(128), 
	lease_until FLOAT, 
	created_at FLOAT NOT NULL, 
	started_at FLOAT, 
	finished_at FLOAT, 
	PRIMARY KEY (number), 
	UNIQUE (id)
);
CREATE INDEX ix_jobs_queued ON jobs (priority DESC, number) WHERE state = 'queued';
CREATE INDEX ix_jobs_owner ON jobs (owner, number);
CREATE INDEX ix_jobs_owner_started ON jobs (owner, started_at);
CREATE INDEX ix_jobs_running ON jobs (owner) WHERE state = 'running';
CREATE TABLE job_events (
	seq INTEGER NOT NULL, 
	job_id VARCHAR(36) NOT NULL, 
	owner VARCHAR(64) NOT NULL, 
	model VARCHAR(64) NOT NULL, 
	type VARCHAR(32) NOT NULL, 
	data JSON NOT NULL, 
	ts FLOAT NOT NULL, 
	PRIMARY KEY (seq)
);
CREATE INDEX ix_job_events_job ON job_events (job_id, seq);
CREATE INDEX ix_job_events_owner ON job_events (owner, seq);
CREATE TABLE api_keys (
	id VARCHAR(16) NOT NULL, 
	name VARCHAR(128) NOT NULL, 
	digest VARCHAR(64) NOT NULL, 
	created_at FLOAT NOT NULL, 
	revoked_at FLOAT, 
	PRIMARY KEY (id), 
	UNIQUE (name), 
	UNIQUE (digest)
);
CREATE TABLE settings (
	name VARCHAR(64) NOT NULL, 
	value TEXT NOT NULL, 
	PRIMARY KEY (name)
);
