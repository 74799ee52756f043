-- The hourly usage rollup (issue 14): billing's usage events summed per account, provider, model and
-- UTC hour. Each hour's rows are recomputed from all of that hour's events and written absolutely
-- (INSERT ... ON CONFLICT ... DO UPDATE SET col = EXCLUDED.col), so re-running an hour changes nothing.

CREATE TABLE usage_hourly (
  account text NOT NULL,
  -- Exactly as the event recorded them: analytics groups by what was actually called.
  provider text NOT NULL,
  model text NOT NULL,
  -- The hour's start; always on the hour (UTC).
  hour timestamptz NOT NULL CHECK (date_trunc('hour', hour, 'UTC') = hour),
  requests bigint NOT NULL CHECK (requests >= 0),
  tokens_in bigint NOT NULL DEFAULT 0 CHECK (tokens_in >= 0),
  tokens_out bigint NOT NULL DEFAULT 0 CHECK (tokens_out >= 0),
  -- Speech to text: seconds of audio transcribed. Events carry them to the millisecond, so the sum
  -- is an exact decimal rather than a float.
  seconds numeric(18, 3) NOT NULL DEFAULT 0 CHECK (seconds >= 0),
  -- Text to speech: characters spoken.
  characters bigint NOT NULL DEFAULT 0 CHECK (characters >= 0),
  -- Integer micro-credits (1 credit = 1,000,000), never a float.
  credits_micro bigint NOT NULL DEFAULT 0 CHECK (credits_micro >= 0),
  -- Calls whose tokens were estimated because the provider reported no usage.
  estimated_requests bigint NOT NULL DEFAULT 0 CHECK (estimated_requests >= 0),
  -- Events the client reported itself (POST /api/billing/usage): their credits are informational,
  -- so cost analytics can tell them from what the ledger charged.
  client_requests bigint NOT NULL DEFAULT 0 CHECK (client_requests >= 0),
  -- Embedding calls (RAG) among `requests`, and the tokens they embedded (within `tokens_in`).
  embedding_requests bigint NOT NULL DEFAULT 0 CHECK (embedding_requests >= 0),
  embedding_tokens bigint NOT NULL DEFAULT 0 CHECK (embedding_tokens >= 0),
  -- When the row was last recomputed: rows of a still-open hour are provisional until a later run.
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (account, provider, model, hour)
);

-- Admin analytics read every account over a time range; the primary key serves one account's reads.
CREATE INDEX usage_hourly_hour ON usage_hourly (hour);

-- One row per attempt to roll one hour: the lag (oldest closed hour with no succeeded run) and the
-- admin's list of recent runs come from here.
CREATE TABLE rollup_runs (
  id bigserial PRIMARY KEY,
  hour timestamptz NOT NULL CHECK (date_trunc('hour', hour, 'UTC') = hour),
  started_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  events bigint CHECK (events >= 0),
  rows bigint CHECK (rows >= 0),
  status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
  error text,
  CHECK ((status = 'running') = (finished_at IS NULL))
);

CREATE INDEX rollup_runs_hour ON rollup_runs (hour, status);
CREATE INDEX rollup_runs_started ON rollup_runs (started_at DESC);
