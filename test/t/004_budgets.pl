# Budgets enforced at login with real concurrent connections: a login storm
# never overshoots, group and per-database budgets, warn then on, and the
# priority reserve.
use strict;
use warnings;
use POSIX ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use PoolgovTest;

my $node = poolgov_node('budgets', conf => "log_error_verbosity = verbose\n");
$node->safe_psql('postgres', q{
	CREATE ROLE app LOGIN;
	CREATE ROLE grp;
	CREATE ROLE m1 LOGIN IN ROLE grp;
	CREATE ROLE m2 LOGIN IN ROLE grp;
	CREATE ROLE m3 LOGIN IN ROLE grp;
	CREATE DATABASE db2;
	SELECT poolgov.set_budget('app', 10);
});

# --- Storm: 60 clients reconnect as fast as they can for about 10 seconds
# while a sampler reads pg_stat_activity every few milliseconds. Each session
# holds its connection a moment, so that the budget is under pressure even
# when the machine is slow to start psql.
my $clients = 60;
my $sampler = session($node);
my $dir = $node->basedir;
my $deadline = time() + 10;
my @children;
for my $i (1 .. $clients)
{
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		# Clients yield the CPU to the server and the sampler.
		POSIX::nice(10);
		my ($ok, $refused) = (0, 0);
		open my $touch, '>', "$dir/storm_$i.err";
		close $touch;
		while (time() < $deadline)
		{
			my $rc = system("psql -X -q -d '" . $node->connstr('postgres') . " user=app'"
				  . " -c 'SELECT pg_sleep(0.2)' >/dev/null 2>>$dir/storm_$i.err");
			$rc == 0 ? $ok++ : $refused++;
		}
		open my $fh, '>', "$dir/storm_$i.count";
		print $fh "$ok $refused\n";
		close $fh;
		POSIX::_exit(0);
	}
	push @children, $pid;
}

my ($samples, $max_seen, $max_ours) = (0, 0, 0);
note('storm clients started, ' . sprintf('%.1f', $deadline - time()) . ' s left');
while (time() < $deadline)
{
	my ($seen, $ours) = split /\|/, $sampler->query_safe(q{
		SELECT (SELECT count(*) FROM pg_stat_activity WHERE usename = 'app'),
		       (SELECT connections FROM poolgov.budget_usage WHERE role = 'app')});
	$samples++;
	$max_seen = $seen if $seen > $max_seen;
	$max_ours = $ours if $ours > $max_ours;
	usleep(2_000);
}
waitpid($_, 0) for @children;

my ($ok, $refused) = (0, 0);
for my $i (1 .. $clients)
{
	my ($o, $r) = split ' ', slurp_file("$dir/storm_$i.count");
	$ok += $o;
	$refused += $r;
}
note("storm: $ok logins served, $refused refused, $samples samples, max seen $max_seen");
cmp_ok($samples, '>', 100, 'the sampler read pg_stat_activity often');
cmp_ok($max_seen, '<=', 10, 'pg_stat_activity never showed more than 10 app sessions');
is($max_ours, 10, 'the budget was full at times, never over');
cmp_ok($ok, '>', 20, 'many logins got in');
cmp_ok($refused, '>=', 5, 'logins were refused');
my $errors = join '', map { slurp_file("$dir/storm_$_.err") } 1 .. $clients;
like($errors, qr/FATAL:  too many connections for role "app"/, 'refused clients saw the message');
unlike($errors, qr/FATAL:  (?!too many connections for role "app")/, 'and no other failure');
ok($node->log_contains('FATAL:  53300: too many connections for role "app"'),
	'with SQLSTATE 53300');
$sampler->quit;
ok($node->poll_query_until('postgres', q{
	SELECT connections = 0 FROM poolgov.budget_usage WHERE role = 'app'}),
	'after the storm the count returns to zero');
wait_counts_agree($node, 'after the storm');
my ($rej, $acc) = split /\|/, $node->safe_psql('postgres',
	q{SELECT rejected, accepted FROM poolgov.roles WHERE role = 'app'});
is($rej, $refused, 'every refusal counted once in poolgov.roles');
is($acc, $ok, 'every accepted login counted once');

# --- Group budget: 5 for the sum of m1, m2, m3.
$node->safe_psql('postgres', q{SELECT poolgov.drop_budget('app'), poolgov.set_budget('grp', 5)});
my @held;
for my $m (qw(m1 m2 m3 m1 m2))
{
	push @held, session($node, user => $m);
}
for my $m (qw(m3 m1 m2))
{
	$node->connect_fails($node->connstr('postgres') . " user=$m",
		"group budget: $m refused as sixth member connection",
		expected_stderr => qr/too many connections for role "$m"/);
}
is($node->safe_psql('postgres', q{SELECT connections FROM poolgov.budget_usage WHERE role = 'grp'}),
	5, 'the group budget counts all members');
like($node->safe_psql('postgres', q{SELECT detail FROM poolgov.events
	WHERE kind = 'reject_budget' ORDER BY at DESC LIMIT 1}),
	qr/Role "grp" has 5 connections; the group's pg_poolgov budget allows 5/,
	'the event names the group and the numbers');
$held[0]->quit;
$node->connect_ok($node->connstr('postgres') . ' user=m3', 'a member gets in once one leaves');
$_->quit for @held[1 .. 4];

# Membership changes reach the shared closure cache at once: a login caches
# the closure of its role; GRANT and REVOKE make it stale.
$node->safe_psql('postgres', q{CREATE ROLE late LOGIN; SELECT poolgov.set_budget('grp', 0)});
my $late = $node->connstr('postgres') . ' user=late';
$node->connect_ok($late, 'late is not in grp: the zero budget does not apply');
$node->connect_ok($late, 'and its closure is now cached');
$node->safe_psql('postgres', 'GRANT grp TO late');
$node->connect_fails($late, 'after GRANT the group budget applies at once',
	expected_stderr => qr/too many connections for role "late"/);
$node->safe_psql('postgres', 'REVOKE grp FROM late');
$node->connect_ok($late, 'after REVOKE it no longer does');
$node->safe_psql('postgres', q{SELECT poolgov.drop_budget('grp')});

# --- Per-database budget: app may hold 1 connection to db2, any to postgres.
$node->safe_psql('postgres', q{SELECT poolgov.set_budget('app', 1, database => 'db2')});
my $in_db2 = session($node, user => 'app', db => 'db2');
$node->connect_fails($node->connstr('db2') . ' user=app', 'second app login to db2 refused',
	expected_stderr => qr/too many connections for role "app"/);
$node->connect_ok($node->connstr('postgres') . ' user=app', 'app may still log in to postgres');
$in_db2->quit;
$node->safe_psql('postgres', q{SELECT poolgov.drop_budget('app', 'db2')});

# --- Superusers: exempt by default, budgeted when exempt_superusers = off.
$node->safe_psql('postgres', q{CREATE ROLE boss LOGIN SUPERUSER; SELECT poolgov.set_budget('boss', 1)});
my $boss = session($node, user => 'boss');
$node->connect_ok($node->connstr('postgres') . ' user=boss', 'a superuser is exempt by default');
$node->safe_psql('postgres', q{ALTER SYSTEM SET poolgov.exempt_superusers = off});
$node->reload;
ok($node->poll_query_until('postgres', q{SELECT current_setting('poolgov.exempt_superusers') = 'off'}),
	'exempt_superusers = off after reload');
# The budget (1) is full; the superuser_reserved_connections (3) overdrafts
# still get in (see 007_login_catalog.pl), the next login is refused.
my @over = map { session($node, user => 'boss') } 1 .. 3;
$node->connect_fails($node->connstr('postgres') . ' user=boss',
	'with exempt_superusers = off the budget applies to superusers too',
	expected_stderr => qr/too many connections for role "boss"/);
$_->quit for (@over, $boss);
$node->safe_psql('postgres', q{ALTER SYSTEM RESET poolgov.exempt_superusers; SELECT pg_reload_conf();
	SELECT poolgov.drop_budget('boss')});

# --- Concurrent changes: each transaction read the table without the
# other's uncommitted row; both rows must end up enforced.
my $t1 = session($node);
my $t2 = session($node);
$t1->query_safe(q{BEGIN; SELECT poolgov.set_budget('m1', 1)});
$t2->query_safe(q{BEGIN; SELECT poolgov.set_budget('m2', 1)});
$t1->query_safe('COMMIT');
$t2->query_safe('COMMIT');
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 2 FROM poolgov.budget_usage WHERE role IN ('m1', 'm2')}),
	'concurrently committed budgets are both in force');
$t1->quit;
$t2->quit;
$node->safe_psql('postgres', q{SELECT poolgov.drop_budget('m1'), poolgov.drop_budget('m2')});

# --- Dry run: warn lets everyone in and records what on would refuse.
$node->safe_psql('postgres', q{ALTER SYSTEM SET poolgov.enforce = 'warn'});
$node->reload;
ok($node->poll_query_until('postgres', q{SELECT current_setting('poolgov.enforce') = 'warn'}),
	'enforce = warn after reload');
$node->safe_psql('postgres', q{SELECT poolgov.reset(); SELECT poolgov.set_budget('app', 1)});
my @warned = map { session($node, user => 'app') } 1 .. 3;
is($node->safe_psql('postgres', q{SELECT connections FROM poolgov.budget_usage WHERE role = 'app'}),
	3, 'warn: all three got in over a budget of 1');
is($node->safe_psql('postgres', 'SELECT warned, rejected_budget FROM poolgov.stats'), '2|0',
	'warn: two would-be refusals counted, none refused');
is($node->safe_psql('postgres', q{SELECT count(*) FROM poolgov.events WHERE kind = 'warn_budget'}),
	2, 'warn: two warn_budget events');
ok($node->log_contains('pg_poolgov would refuse this login: too many connections for role "app"'),
	'warn: the log says what on would do');

$node->safe_psql('postgres', q{ALTER SYSTEM SET poolgov.enforce = 'on'});
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
ok($node->poll_query_until('postgres', q{SELECT current_setting('poolgov.enforce') = 'on'}),
	'enforce = on after pg_reload_conf()');
$node->connect_fails($node->connstr('postgres') . ' user=app', 'on: refused at once',
	expected_stderr => qr/too many connections for role "app"/);
$_->quit for @warned;
$node->safe_psql('postgres', q{SELECT poolgov.drop_budget('app')});
$node->stop;

# --- Priority reserve: 12 slots, 2 for superusers, 3 for priority roles,
# so 7 for everyone else.
my $small = poolgov_node('reserve', max_connections => 12, conf => q{
superuser_reserved_connections = 2
poolgov.reserved_connections = 3
poolgov.priority_roles = 'oncall'
});
$small->safe_psql('postgres', q{
	CREATE ROLE app LOGIN;
	CREATE ROLE oncall LOGIN;
	CREATE ROLE monitor LOGIN;
	SELECT poolgov.set_budget('monitor', NULL, priority => 'high');
});
my @normal;
for my $i (1 .. 7)
{
	push @normal, session($small, user => 'app');
}
$small->connect_fails($small->connstr('postgres') . ' user=app',
	'eighth normal login refused: the rest is reserved',
	expected_stderr => qr/remaining connection slots are reserved for pg_poolgov priority roles/);
my $oncall = session($small, user => 'oncall');
is($oncall->query_safe('SELECT current_user'), 'oncall', 'a role in priority_roles gets a reserved slot');
my $monitor = session($small, user => 'monitor');
is($monitor->query_safe('SELECT current_user'), 'monitor', "a role with a 'high' budget gets one too");
$small->connect_fails($small->connstr('postgres') . ' user=app', 'normal role still refused',
	expected_stderr => qr/reserved for pg_poolgov priority roles/);
is($small->safe_psql('postgres', 'SELECT rejected_reserve FROM poolgov.stats'), 2,
	'reserve refusals counted');
$_->quit for (@normal, $oncall, $monitor);
$small->stop;

done_testing();
