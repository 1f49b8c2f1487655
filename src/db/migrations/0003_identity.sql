-- Identity read models (schema rm), the projector checkpoints, and refresh-token storage.
-- Every rm table leads with organization_id, is hash-partitioned by it, and has row-level security:
-- the application reads as role pytake_app with app.organization_id set (src/db/pool.ts asTenant),
-- so a query that forgets its tenant sees nothing. Projectors write as the owner.

-- The role is cluster-wide: another database of this cluster may be creating it right now.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pytake_app') THEN
    CREATE ROLE pytake_app NOLOGIN;
  END IF;
  IF NOT pg_has_role(current_user, 'pytake_app', 'MEMBER') THEN
    GRANT pytake_app TO CURRENT_USER;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation OR internal_error THEN
  NULL;
END
$$;

CREATE SCHEMA IF NOT EXISTS rm;
GRANT USAGE ON SCHEMA rm TO pytake_app;

-- The tenant of the current transaction, or NULL (which matches no row).
CREATE FUNCTION rm.current_organization() RETURNS uuid LANGUAGE sql STABLE AS $$
  SELECT nullif(current_setting('app.organization_id', true), '')::uuid
$$;

CREATE TABLE rm.organizations (
  organization_id uuid NOT NULL,
  name text NOT NULL,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (organization_id)
) PARTITION BY HASH (organization_id);

CREATE TABLE rm.users (
  organization_id uuid NOT NULL,
  user_id uuid NOT NULL,
  email text NOT NULL,
  name text NOT NULL,
  role text NOT NULL,
  password_hash text NOT NULL,
  deleted_at timestamptz,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (organization_id, user_id)
) PARTITION BY HASH (organization_id);
CREATE INDEX users_email_idx ON rm.users (email);

CREATE TABLE rm.roles (
  organization_id uuid NOT NULL,
  role_id uuid NOT NULL,
  name text NOT NULL,
  permissions text[] NOT NULL,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (organization_id, role_id)
) PARTITION BY HASH (organization_id);

CREATE TABLE rm.departments (
  organization_id uuid NOT NULL,
  department_id uuid NOT NULL,
  name text NOT NULL,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (organization_id, department_id)
) PARTITION BY HASH (organization_id);

CREATE TABLE rm.queues (
  organization_id uuid NOT NULL,
  queue_id uuid NOT NULL,
  name text NOT NULL,
  department_id uuid,
  agent_ids uuid[] NOT NULL,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (organization_id, queue_id)
) PARTITION BY HASH (organization_id);

CREATE TABLE rm.channels (
  organization_id uuid NOT NULL,
  channel_id uuid NOT NULL,
  name text NOT NULL,
  phone_number_id text NOT NULL,
  display_phone_number text NOT NULL,
  waba_id text NOT NULL,
  access_token_sealed text NOT NULL,
  app_secret_sealed text,
  verify_token_sealed text,
  deleted_at timestamptz,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (organization_id, channel_id)
) PARTITION BY HASH (organization_id);
CREATE INDEX channels_phone_number_idx ON rm.channels (phone_number_id);

-- Eight hash partitions per table, and the same tenant policy on every table.
DO $$
DECLARE
  t text;
  i int;
BEGIN
  FOREACH t IN ARRAY ARRAY['organizations', 'users', 'roles', 'departments', 'queues', 'channels'] LOOP
    FOR i IN 0 .. 7 LOOP
      EXECUTE format('CREATE TABLE rm.%I PARTITION OF rm.%I FOR VALUES WITH (MODULUS 8, REMAINDER %s)',
                     t || '_p' || i, t, i);
    END LOOP;
    EXECUTE format('ALTER TABLE rm.%I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON rm.%I USING (organization_id = rm.current_organization())', t);
    EXECUTE format('GRANT SELECT ON rm.%I TO pytake_app', t);
  END LOOP;
END
$$;

-- Login and sign-up come before any tenant is known: this one function looks a user up by email
-- across tenants, and returns only what login needs.
CREATE FUNCTION rm.find_login(p_email text)
RETURNS TABLE (organization_id uuid, user_id uuid, password_hash text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, rm AS $$
  SELECT u.organization_id, u.user_id, u.password_hash FROM rm.users u
   WHERE u.email = lower(p_email) AND u.deleted_at IS NULL
$$;
REVOKE ALL ON FUNCTION rm.find_login(text) FROM PUBLIC;

-- Where each projector is: the position of the last event it applied.
CREATE SCHEMA IF NOT EXISTS projection;
CREATE TABLE projection.checkpoints (
  name text PRIMARY KEY,
  version int NOT NULL,
  position bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Refresh tokens: session state, not business data. Stored hashed; grouped in families so that a
-- spent token presented again revokes every token of its family.
CREATE SCHEMA IF NOT EXISTS auth;
CREATE TABLE auth.refresh_tokens (
  token_hash text PRIMARY KEY,
  family_id uuid NOT NULL,
  organization_id uuid NOT NULL,
  user_id uuid NOT NULL,
  expires_at timestamptz NOT NULL,
  spent_at timestamptz,
  revoked_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family_idx ON auth.refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON auth.refresh_tokens (organization_id, user_id);
