-- The fingerprint of the alert endpoint's secret last applied to a managed webhook (Enterprise
-- Core's failure handling), an HMAC under store_meta's audit_key like secret_fingerprint.
ALTER TABLE managed ADD COLUMN alert_secret_fingerprint TEXT;
