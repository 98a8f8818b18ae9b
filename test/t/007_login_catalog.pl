# The login path reads only what is safe before a database is selected.
#
# When the shared relcache init file (global/pg_internal.init) is missing —
# after REINDEX or VACUUM FULL of a shared catalog, at startup, or deleted —
# an index scan opened from the authentication hook reads pg_class and
# FATALs ("cannot read pg_class without having selected a database") for
# every login. Here a login storm (several roles and databases, with budgets
# so that every lookup runs: role, database, membership closure, priority
# roles) runs while shared catalogs are reindexed and roles, grants and
# databases churn; every login must get in, and budgets must still be
# enforced exactly afterwards. Then the same after a restart and after
# deleting the init file with the server stopped. autovacuum is off so that
# no worker quietly rebuilds the init file.
use strict;
use warnings;
use POSIX ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use PoolgovTest;

my $node = poolgov_node('login_catalog', conf => q{
autovacuum = off
poolgov.priority_roles = 'oncall, nosuchrole'
});
$node->safe_psql('postgres', q{
	CREATE ROLE app LOGIN;
	CREATE ROLE grp;
	CREATE ROLE member LOGIN IN ROLE grp;
	CREATE ROLE oncall LOGIN;
	CREATE DATABASE db2;
	SELECT poolgov.set_budget('app', 50);
	SELECT poolgov.set_budget('grp', 50);
	SELECT poolgov.set_budget('member', 50, database => 'db2');
	SELECT poolgov.set_budget('postgres', 50, database => 'db2');
});

# Who logs in during a storm: [user, database].
my @clients = (
	[ 'app', 'postgres' ], [ 'app', 'db2' ], [ 'member', 'db2' ],
	[ 'member', 'postgres' ], [ 'postgres', 'db2' ], [ 'oncall', 'postgres' ]);

# What the churn session runs, in turn, while the storm lasts.
my @churn = (
	'REINDEX TABLE pg_database',
	'REINDEX TABLE pg_authid',
	'VACUUM FULL pg_auth_members',
	'CREATE ROLE churn LOGIN IN ROLE grp',
	'REVOKE grp FROM churn',
	'GRANT grp TO churn',
	'DROP ROLE churn',
	'CREATE DATABASE churn_db',
	'DROP DATABASE churn_db',
	'REINDEX TABLE pg_auth_members',
	'VACUUM FULL pg_authid',
	'VACUUM FULL pg_database');

# Runs the storm for $seconds while $churner (an open session, or undef)
# cycles through @churn; returns (ok, failed, churn statements run, errors).
sub storm
{
	my ($name, $seconds, $churner) = @_;
	my $dir = $node->basedir;
	my $deadline = time() + $seconds;
	my @children;
	for my $i (0 .. $#clients)
	{
		my ($user, $db) = @{ $clients[$i] };
		my $pid = fork();
		die "fork: $!" unless defined $pid;
		if ($pid == 0)
		{
			POSIX::nice(5);
			my ($ok, $failed) = (0, 0);
			open my $touch, '>', "$dir/${name}_$i.err";
			close $touch;
			while (time() < $deadline)
			{
				my $rc = system("psql -X -q -d '" . $node->connstr($db) . " user=$user'"
					  . " -c 'SELECT 1' >/dev/null 2>>$dir/${name}_$i.err");
				$rc == 0 ? $ok++ : $failed++;
			}
			open my $fh, '>', "$dir/${name}_$i.count";
			print $fh "$ok $failed\n";
			close $fh;
			POSIX::_exit(0);
		}
		push @children, $pid;
	}
	# Whole rounds only, so that the churn leaves no role or database behind.
	my $churned = 0;
	while (defined $churner && (time() < $deadline || $churned % @churn != 0))
	{
		$churner->query_safe($churn[ $churned % @churn ]);
		$churned++;
	}
	waitpid($_, 0) for @children;
	my ($ok, $failed, @per_client) = (0, 0);
	for my $i (0 .. $#clients)
	{
		my ($o, $f) = split ' ', slurp_file("$dir/${name}_$i.count");
		$ok += $o;
		$failed += $f;
		push @per_client, $o;
	}
	my $errors = join '', map { slurp_file("$dir/${name}_$_.err") } 0 .. $#clients;
	note("$name: $ok logins, $failed failed, $churned churn statements, per client @per_client");
	return ($ok, $failed, $churned, $errors, @per_client);
}

sub check_storm
{
	my ($name, $seconds, $churner) = @_;
	my ($ok, $failed, $churned, $errors, @per_client) = storm($name, $seconds, $churner);
	is($failed, 0, "$name: no login failed");
	is($errors, '', "$name: no client saw an error");
	cmp_ok($ok, '>=', 30, "$name: many logins served");
	is(scalar(grep { $_ > 0 } @per_client), scalar(@clients),
		"$name: every role and database logged in");
	cmp_ok($churned, '>=', scalar(@churn), "$name: every churn statement ran") if $churner;
	ok(!$node->log_contains('cannot read pg_class without having selected a database'),
		"$name: no 'cannot read pg_class' in the log");
}

# Budgets are enforced exactly: app 2 (own), member 1 in db2 (per database),
# grp 3 (group, counted over member and a second member).
sub check_budgets
{
	my ($name) = @_;
	$node->safe_psql('postgres', q{
		SELECT poolgov.set_budget('app', 2);
		SELECT poolgov.set_budget('member', 1, database => 'db2');
		SELECT poolgov.set_budget('grp', 3);
	});
	ok($node->poll_query_until('postgres', q{
		SELECT count(*) = 3 FROM poolgov.budget_usage
		WHERE (role, coalesce(database, '-'), max_connections) IN
		      (('app', '-', 2), ('member', 'db2', 1), ('grp', '-', 3))}),
		"$name: new budgets in force");
	my @held = (session($node, user => 'app'), session($node, user => 'app'));
	$node->connect_fails($node->connstr('postgres') . ' user=app', "$name: third app login refused",
		expected_stderr => qr/too many connections for role "app"/);
	push @held, session($node, user => 'member', db => 'db2');
	$node->connect_fails($node->connstr('db2') . ' user=member',
		"$name: second member login to db2 refused",
		expected_stderr => qr/too many connections for role "member"/);
	push @held, session($node, user => 'member'), session($node, user => 'member');
	$node->connect_fails($node->connstr('postgres') . ' user=member',
		"$name: fourth member login refused by the group budget",
		expected_stderr => qr/the group's pg_poolgov budget allows 3/);
	$_->quit for @held;
	ok($node->poll_query_until('postgres', q{
		SELECT coalesce(sum(connections), 0) = 0 FROM poolgov.budget_usage
		WHERE role IN ('app', 'member', 'grp')}),
		"$name: counts back to zero");
	wait_counts_agree($node, $name);
	$node->safe_psql('postgres', q{
		SELECT poolgov.set_budget('app', 50);
		SELECT poolgov.set_budget('member', 50, database => 'db2');
		SELECT poolgov.set_budget('grp', 50);
	});
}

# A single login right after REINDEX of a shared catalog: the simplest
# reproduction of the outage.
$node->safe_psql('postgres', 'REINDEX TABLE pg_authid');
$node->connect_ok($node->connstr('postgres') . ' user=app', 'login right after REINDEX pg_authid');
$node->safe_psql('postgres', 'REINDEX TABLE pg_database');
$node->connect_ok($node->connstr('db2') . ' user=member', 'login right after REINDEX pg_database');

# --- Storm with catalog churn.
my $churner = session($node);
check_storm('churn', 10, $churner);
$churner->quit;
check_budgets('after churn');

# --- Right after a restart (no backend has rebuilt anything yet).
$node->restart;
check_storm('restart', 4, undef);
check_budgets('after restart');

# --- Init file deleted while the server is stopped, then churn again.
$node->stop;
unlink($node->data_dir . '/global/pg_internal.init');
ok(!-e $node->data_dir . '/global/pg_internal.init', 'init file deleted');
$node->start;
check_storm('no init file', 4, undef);
$churner = session($node);
check_storm('no init file, churn', 6, $churner);
$churner->quit;
check_budgets('after deleting the init file');

# --- Superusers stay reachable: with exempt_superusers = off a budget of 0
# on a superuser still lets superuser_reserved_connections (3 by default)
# superuser sessions in, never more; ordinary roles are refused as before.
$node->safe_psql('postgres', q{
	CREATE ROLE boss LOGIN SUPERUSER;
	CREATE ROLE admins;
	CREATE ROLE boss2 LOGIN SUPERUSER IN ROLE admins;
	SELECT poolgov.set_budget('boss', 0);
	SELECT poolgov.set_budget('admins', 0);
	SELECT poolgov.set_budget('app', 0);
	ALTER SYSTEM SET poolgov.exempt_superusers = off;
	SELECT pg_reload_conf();
});
ok($node->poll_query_until('postgres', q{
	SELECT current_setting('poolgov.exempt_superusers') = 'off'
	   AND (SELECT count(*) = 3 FROM poolgov.budget_usage
	        WHERE role IN ('boss', 'admins', 'app') AND max_connections = 0)}),
	'exempt_superusers = off and budgets of 0 in force');
is($node->safe_psql('postgres', 'SHOW superuser_reserved_connections'), '3',
	'superuser_reserved_connections is 3');
my @bosses;
for my $i (1 .. 2)
{
	push @bosses, session($node, user => 'boss');
	is($bosses[-1]->query_safe('SELECT current_user'), 'boss', "superuser session $i over a budget of 0");
}
push @bosses, session($node, user => 'boss2');
is($bosses[-1]->query_safe('SELECT current_user'), 'boss2',
	'superuser session 3, over its group budget of 0');
$node->connect_fails($node->connstr('postgres') . ' user=boss',
	'the fourth superuser over budget is refused: the reserve is used up',
	expected_stderr => qr/too many connections for role "boss"/);
$node->connect_fails($node->connstr('postgres') . ' user=app',
	'an ordinary role over its budget is refused as before',
	expected_stderr => qr/too many connections for role "app"/);
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM poolgov.events WHERE kind = 'superuser_overdraft'}), '3',
	'each overdraft is an event');
ok($node->log_contains('pg_poolgov: superuser "boss" admitted over its connection budget from the superuser reserve'),
	'and a LOG line');
ok($node->log_contains('Superuser connections over budget: 3 of 3'), 'which counts the overdrafts');
(shift @bosses)->quit;
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 2 FROM poolgov.connections WHERE role IN ('boss', 'boss2')}),
	'one overdraft session ended');
push @bosses, session($node, user => 'boss');
is($bosses[-1]->query_safe('SELECT current_user'), 'boss', 'its overdraft is free again');
$_->quit for @bosses;
$node->safe_psql('postgres', q{
	ALTER SYSTEM RESET poolgov.exempt_superusers;
	SELECT pg_reload_conf();
	SELECT poolgov.drop_budget('boss'), poolgov.drop_budget('admins');
	SELECT poolgov.set_budget('app', 50);
});

# --- Refusal HINTs quote role names as SQL literals (quote_literal).
$node->safe_psql('postgres', q{
	CREATE ROLE "x'); DELETE --" LOGIN;
	CREATE ROLE "a\b" LOGIN;
	SELECT poolgov.set_budget('x''); DELETE --', 0);
	SELECT poolgov.set_budget('a\b', 0);
});
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 2 FROM poolgov.budget_usage WHERE max_connections = 0}),
	'budgets of 0 on the odd names in force');

# libpq conninfo quoting of a user name.
sub user_opt
{
	my ($u) = @_;
	$u =~ s/([\\'])/\\$1/g;
	return " user='$u'";
}
$node->connect_fails($node->connstr('postgres') . user_opt(q{x'); DELETE --}),
	'role with a quote refused',
	expected_stderr => qr/HINT:  Close idle connections, or raise the budget with poolgov\.set_budget\('x''\); DELETE --', \.\.\.\)\./);
$node->connect_fails($node->connstr('postgres') . user_opt(q{a\b}),
	'role with a backslash refused',
	expected_stderr => qr/HINT:  Close idle connections, or raise the budget with poolgov\.set_budget\(E'a\\\\b', \.\.\.\)\./);
is($node->safe_psql('postgres', q{SELECT quote_literal('x''); DELETE --') || ' ' || quote_literal('a\b')}),
	q{'x''); DELETE --' E'a\\\\b'}, 'which is what quote_literal() writes');
$node->stop;

# --- poolgov.reserved_connections larger than the server can honour is
# clamped, at start and at reload, with a WARNING that gives the numbers.
# 10 slots, 3 for superusers: at most 6 can be reserved, leaving 1.
my $small = poolgov_node('reserve_clamp', max_connections => 10, conf => q{
superuser_reserved_connections = 3
poolgov.reserved_connections = 50
});
ok($small->log_contains('poolgov.reserved_connections = 50 is more than the server can reserve; using 6'),
	'start: WARNING with the clamped value');
ok($small->log_contains('max_connections is 10 and superuser_reserved_connections is 3, so at most 6 slots'),
	'start: DETAIL with the numbers');
is($small->safe_psql('postgres', 'SHOW poolgov.reserved_connections'), '6', 'start: 6 in force');
$small->safe_psql('postgres', 'CREATE ROLE app LOGIN');
settle($small);
my $app = session($small, user => 'app');
is($app->query_safe('SELECT current_user'), 'app', 'the one slot left is open to other roles');
$small->connect_fails($small->connstr('postgres') . ' user=app', 'the next is refused by the reserve',
	expected_stderr => qr/remaining connection slots are reserved for pg_poolgov priority roles\nDETAIL:  \d+ connections are open; only 1 of the connection slots are open/);
$app->quit;

$small->safe_psql('postgres', q{ALTER SYSTEM SET poolgov.reserved_connections = 40; SELECT pg_reload_conf()});
ok(wait_for_log($small, 'poolgov.reserved_connections = 40 is more than the server can reserve; using 6'),
	'reload: WARNING with the clamped value');
is($small->safe_psql('postgres', 'SHOW poolgov.reserved_connections'), '6', 'reload: 6 in force');
settle($small);
$app = session($small, user => 'app');
is($app->query_safe('SELECT current_user'), 'app', 'reload: a non-priority login still gets in');
$app->quit;

$small->safe_psql('postgres', q{ALTER SYSTEM SET poolgov.reserved_connections = 2; SELECT pg_reload_conf()});
ok($small->poll_query_until('postgres', q{SELECT current_setting('poolgov.reserved_connections') = '2'}),
	'a value the server can honour is taken as is');
settle($small);
# Each of the five names itself; pg_poolgov must track all five as app
# sessions, each under the name pg_stat_activity shows for its pid.
my @apps = map {
	my $s = session($small, user => 'app');
	$s->query_safe("SET application_name = 'five_$_'");
	$s
} 1 .. 5;
is($small->safe_psql('postgres', q{
	SELECT string_agg(c.application_name, ',' ORDER BY c.application_name),
	       bool_and(c.application_name = a.application_name AND a.usename = 'app')
	  FROM poolgov.connections c JOIN pg_stat_activity a USING (pid)
	 WHERE c.role = 'app'}),
	'five_1,five_2,five_3,five_4,five_5|t',
	'five non-priority sessions with 10 - 3 - 2 slots, each tracked as pg_stat_activity shows it');
$small->connect_fails($small->connstr('postgres') . ' user=app', 'the sixth is refused',
	expected_stderr => qr/only 5 of the connection slots/);
$_->quit for @apps;
$small->stop;

# Waits until no other client backend is left (the one asking excepted),
# so that a backend still exiting holds no process slot.
sub settle
{
	my ($n) = @_;
	ok($n->poll_query_until('postgres', q{
		SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'client backend'}),
		'no other client backend');
	usleep(200_000);
}

# Bounded wait for a line in the server log.
sub wait_for_log
{
	my ($n, $text) = @_;
	my $deadline = time() + 30;
	while (time() < $deadline)
	{
		return 1 if $n->log_contains($text);
		usleep(100_000);
	}
	return 0;
}

done_testing();
