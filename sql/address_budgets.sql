-- Budgets per client address, per-budget timeouts and poolgov.check_login
-- (1.2). Logins from real addresses, the randomized comparison of
-- check_login with real logins and the timeouts firing live in
-- test/t/027_check_login.pl.
CREATE ROLE regress_web LOGIN;
CREATE ROLE regress_batch LOGIN;
CREATE ROLE regress_watch LOGIN;

-- The forms: an address range alone, with a role, per address; written
-- canonically ('10.1.2.3/32' is the address '10.1.2.3').
SELECT poolgov.set_budget_rule(client_addr => '10.1.2.0/24', max_connections => 50);
SELECT poolgov.set_budget_rule(role => 'regress_web', client_addr => 'all', per_address => true,
                               max_connections => 20);
SELECT poolgov.set_budget_rule(role => 'regress_web', client_addr => '10.9.9.9/32',
                               max_connections => 0);
SELECT poolgov.set_budget_rule(client_addr => 'local', database => 'postgres',
                               max_connections => 1000, admission_timeout => '2 s');
SELECT poolgov.set_budget_rule(role => 'regress_batch', max_connections => 3,
                               idle_in_transaction_timeout => '1 min');
SELECT role_name, database_name, client_addr, per_address, max_connections,
       admission_timeout, idle_in_transaction_timeout
  FROM poolgov.budgets ORDER BY role_name NULLS LAST, client_addr;
SELECT role, database, client_addr, per_address, max_connections, connections,
       admission_timeout, idle_in_transaction_timeout
  FROM poolgov.budget_usage ORDER BY role NULLS LAST, client_addr;

-- Setting a rule again replaces it; the 1.0 functions leave address rules
-- and the timeouts alone.
SELECT poolgov.set_budget_rule(client_addr => '10.1.2.0/24', max_connections => 40);
SELECT poolgov.set_budget('regress_batch', 4);
SELECT poolgov.drop_budget('regress_web');  -- no rule without an address: false
SELECT role_name, client_addr, max_connections, idle_in_transaction_timeout
  FROM poolgov.budgets ORDER BY role_name NULLS LAST, client_addr;

-- Bad arguments.
SELECT sqlstate_of($$SELECT poolgov.set_budget_rule(max_connections => 1)$$);
SELECT sqlstate_of($$SELECT poolgov.set_budget_rule(client_addr => '10.1.2.3/24', max_connections => 1)$$);
SELECT sqlstate_of($$SELECT poolgov.set_budget_rule(client_addr => 'example.com', max_connections => 1)$$);
SELECT sqlstate_of($$SELECT poolgov.set_budget_rule(role => 'regress_web', per_address => true, max_connections => 1)$$);
SELECT sqlstate_of($$SELECT poolgov.set_budget_rule(role => 'regress_web', max_connections => 1, admission_timeout => '0')$$);
SELECT sqlstate_of($$SELECT poolgov.set_budget_rule(role => 'regress_web', max_connections => 1, idle_in_transaction_timeout => '-1 s')$$);
SELECT sqlstate_of($$INSERT INTO poolgov.budgets (client_addr, max_connections) VALUES ('10.1.2.3/24', 1)$$);
SELECT sqlstate_of($$INSERT INTO poolgov.budgets (max_connections) VALUES (1)$$);

-- What a login would get, with no side effect.
SELECT allowed, verdict, kind, rule_role, rule_client_addr, per_address, max_connections,
       connections, sqlstate, message, detail, hint
  FROM poolgov.check_login('regress_web', 'postgres', '10.9.9.9');
SELECT allowed, kind, rule_client_addr, max_connections, connections
  FROM poolgov.check_login('regress_web', 'postgres', '10.1.2.7');
SELECT allowed, kind FROM poolgov.check_login('regress_batch', 'postgres', '192.168.0.1');
SELECT poolgov.set_budget('regress_batch', 0);
SELECT allowed, verdict, kind, rule_role, max_connections, connections, sqlstate, message
  FROM poolgov.check_login('regress_batch');
SELECT accepted, rejected FROM poolgov.roles WHERE role = 'regress_batch';  -- no side effect
SELECT sqlstate_of($$SELECT * FROM poolgov.check_login('regress_web', 'postgres', '10.1.2.0/24')$$);
SELECT sqlstate_of($$SELECT * FROM poolgov.check_login('no_such_role')$$);
-- A role may check itself, not others.
SET ROLE regress_watch;
SELECT allowed FROM poolgov.check_login('regress_watch');
SELECT sqlstate_of($$SELECT * FROM poolgov.check_login('regress_web')$$);
RESET ROLE;

-- Dropping.
SELECT poolgov.drop_budget_rule(client_addr => '10.1.2.0/24');
SELECT poolgov.drop_budget_rule(role => 'regress_web', client_addr => 'all', per_address => true);
SELECT poolgov.drop_budget_rule(role => 'regress_web', client_addr => '10.9.9.9');
SELECT poolgov.drop_budget_rule(client_addr => 'local', database => 'postgres');
SELECT poolgov.drop_budget('regress_batch');
SELECT count(*) FROM poolgov.budgets;
DROP ROLE regress_web, regress_batch, regress_watch;
