-- Sign-in throttling by (email, client address) and by address, with a
-- slow-down per email instead of a lock-out (src/auth/login.c). An attempt
-- is now recorded as a failure before its password is checked, under an
-- advisory lock on the address, and a right password turns it into a
-- success afterwards: parallel attempts cannot overtake the count.

COMMENT ON TABLE login_attempts IS
	'Sign-in attempts, for throttling by (email, client address), by '
	'address, and for slowing down an email. email is as typed '
	'(lower-cased), whether or not such a user exists. A row is written '
	'as a failure before the password is checked and set to succeeded '
	'when it was right. Old rows may be deleted at any time.';

-- Every throttle check looks up the last success of the email, and of the
-- (email, address) pair; under attack an email has many failures and few
-- successes, so the successes get an index of their own.
CREATE INDEX login_attempts_success_idx
	ON login_attempts (email, client_addr, attempted_at) WHERE succeeded;
