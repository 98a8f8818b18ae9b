# Every query pg_poolgov runs means the same whatever the search_path and
# whatever objects other roles created. An unprivileged role with CREATE on
# schema public (PostgreSQL 15 no longer grants that to PUBLIC, but clusters
# upgraded from older versions and many setups do) plants operators that the
# old budget query, (extract(epoch FROM idle_timeout) * 1000)::bigint, would
# resolve to: *(numeric, integer) is an exact match and beats pg_catalog's
# *(numeric, numeric), and *(numeric, numeric) wins wherever the path lists
# its schema before pg_catalog. Each planted function records current_user
# and session_user; none may ever be called, neither by the governor
# (connected as the bootstrap superuser) nor by the statement trigger
# (running as whoever changed the table, with that caller's search_path).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PoolgovTest;

my $node = poolgov_node('search_path');
$node->safe_psql('postgres', q{
	CREATE ROLE attacker LOGIN;
	CREATE ROLE victim LOGIN;
	CREATE ROLE victim2 LOGIN;
	GRANT CREATE ON SCHEMA public TO attacker;
	CREATE SCHEMA evil AUTHORIZATION attacker;
});

# The attacker's objects, created as the attacker.
my $plant = q{
	CREATE TABLE public.calls (fn text, cur name, sess name);
	GRANT INSERT ON public.calls TO PUBLIC;
};
for my $schema ('public', 'evil')
{
	for my $right ('integer', 'numeric')
	{
		$plant .= qq{
	CREATE FUNCTION $schema.spy_mul(numeric, $right) RETURNS numeric
	LANGUAGE plpgsql AS \$f\$
	BEGIN
		RAISE NOTICE 'spy $schema.*(numeric, $right) called as %', current_user;
		INSERT INTO public.calls VALUES ('$schema.*(numeric, $right)', current_user, session_user);
		RETURN \$1 OPERATOR(pg_catalog.*) \$2;
	END \$f\$;
	CREATE OPERATOR $schema.* (LEFTARG = numeric, RIGHTARG = $right,
	                           FUNCTION = $schema.spy_mul);
};
	}
}
$node->safe_psql('postgres', $plant, extra_params => [ '-U', 'attacker' ]);

# The planted operator is live: an ordinary query of the old shape calls it.
$node->safe_psql('postgres', q{SELECT (extract(epoch FROM interval '1 s') * 1000)::bigint},
	extra_params => [ '-U', 'attacker' ]);
is($node->safe_psql('postgres', 'SELECT count(*) FROM public.calls'),
	'1', 'control: the old expression resolves to the planted operator');
$node->safe_psql('postgres', 'TRUNCATE public.calls');
my $log_offset = -s $node->logfile;

sub calls
{
	return $node->safe_psql('postgres',
		q{SELECT coalesce(string_agg(fn || ' as ' || cur || '/' || sess, ', '), '')
		    FROM public.calls});
}

sub refused
{
	my ($role) = @_;
	my ($rc, $out, $err) = try_login($node, $role);
	return $err =~ /too many connections for role "$role"/ ? 1 : 0;
}

# Waits (bounded) until the governor has taken $n more samples: every budget
# commit wakes it, and it re-reads the table every 10 samples (100 ms each
# here). A governor that stopped would call no planted operator either: the
# wait must succeed, and the governor must have logged no error meanwhile.
sub governor_reads
{
	my ($n, $test) = @_;
	my $offset = -s $node->logfile;
	my $t0 = $node->safe_psql('postgres', 'SELECT now()');
	ok($node->poll_query_until('postgres',
		"SELECT count(*) >= $n FROM poolgov.history WHERE sampled_at > '$t0'"),
		"$test: the governor sampled $n times");
	my $gov = $node->safe_psql('postgres',
		q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_poolgov governor'});
	unlike(slurp_file($node->logfile, $offset), qr/\[$gov\] (ERROR|FATAL)/,
		"$test: the governor logged no error");
}

# A change of victim's idle_timeout that only the governor's periodic
# re-read brings in (the trigger that installs at COMMIT does not fire for
# it): its budget_changed event by "governor" proves that the governor read
# the table and evaluated the idle_timeout expression.
sub governor_evaluates
{
	my ($idle, $test) = @_;
	my $t0 = $node->safe_psql('postgres', 'SELECT now()');
	$node->safe_psql('postgres', qq{
		ALTER TABLE poolgov.budgets DISABLE TRIGGER budgets_changed;
		UPDATE poolgov.budgets SET idle_timeout = '$idle' WHERE role_name = 'victim';
		ALTER TABLE poolgov.budgets ENABLE TRIGGER budgets_changed;
	});
	ok($node->poll_query_until('postgres', qq{
		SELECT count(*) = 1 FROM poolgov.events
		 WHERE kind = 'budget_changed' AND role = 'victim' AND at > '$t0'
		   AND detail LIKE '% by governor'}),
		"$test: the governor read the changed row");
}

# --- Governor path: set_budget with an idle_timeout (the expression is
# evaluated for that row), then let the governor read the table many times.
$node->safe_psql('postgres',
	q{SELECT poolgov.set_budget('victim', 0, idle_timeout => '1 min')});
governor_evaluates('90 s', 'default search_path');
governor_reads(30, 'default search_path');
is(calls(), '', 'governor: no planted operator called under the default search_path');
is(refused('victim'), 1, 'the budget read by the trigger and the governor is enforced');

# The governor's database and role settings cannot steer it either.
$node->safe_psql('postgres', 'ALTER DATABASE postgres SET search_path = evil, public, pg_catalog');
my $gov = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_poolgov governor'});
$node->safe_psql('postgres', "SELECT pg_terminate_backend($gov)");
ok($node->poll_query_until('postgres', qq{
	SELECT count(*) = 1 FROM pg_stat_activity
	 WHERE backend_type = 'pg_poolgov governor' AND pid <> $gov}),
	'the governor restarts with the database-level search_path');
$node->safe_psql('postgres', q{SELECT poolgov.set_budget('victim', 0, idle_timeout => '2 min')});
governor_evaluates('150 s', 'database search_path');
governor_reads(30, 'database search_path');
is(calls(), '', 'governor: no planted operator called with evil, public first in the path');
is(refused('victim'), 1, 'the budget is still enforced');
$node->safe_psql('postgres', 'ALTER DATABASE postgres RESET search_path');

# --- Trigger path: a superuser with the attacker's schemas first in the
# path changes the table directly (INSERT, UPDATE, DELETE, TRUNCATE all fire
# the statement trigger that re-reads it).
for my $path ('public, pg_catalog', 'evil, public, pg_catalog')
{
	$node->safe_psql('postgres', qq{
		SET search_path = $path;
		SELECT poolgov.set_budget('victim', 0, idle_timeout => '3 min');
		INSERT INTO poolgov.budgets (role_name, max_connections, idle_timeout)
		VALUES ('victim2', 0, '30 s');
		UPDATE poolgov.budgets SET idle_timeout = '45 s' WHERE role_name = 'victim2';
	});
	is(calls(), '', "trigger: no planted operator called with search_path = $path");
	is(refused('victim2'), 1, "the directly inserted budget is enforced ($path)");
	$node->safe_psql('postgres', qq{
		SET search_path = $path;
		DELETE FROM poolgov.budgets WHERE role_name = 'victim2';
	});
	is(calls(), '', "trigger on DELETE: nothing called ($path)");
	is(refused('victim2'), 0, "the deleted budget no longer applies ($path)");
}
$node->safe_psql('postgres', q{
	SET search_path = evil, public, pg_catalog;
	TRUNCATE poolgov.budgets;
	INSERT INTO poolgov.budgets (role_name, max_connections, idle_timeout)
	VALUES ('victim', 1, '10 s'), ('victim2', 0, '20 s');
});
governor_reads(30, 'after TRUNCATE');
is(calls(), '', 'nothing called after TRUNCATE and a multi-row INSERT either');
is(refused('victim2'), 1, 'the re-inserted budget is enforced');

unlike(substr(slurp_file($node->logfile), $log_offset), qr/spy (public|evil)/,
	'no spy notice in the server log after the control query');
done_testing();
