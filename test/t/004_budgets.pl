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

# --- Concurrent changes: each transaction changed the table without the
# other's uncommitted row; both rows must end up enforced. Each COMMIT
# installs the table as read just before it commits (t2 then sees t1's
# committed row), so the committers install both rows; the governor, which
# re-reads after every commit and every 10 samples, must find nothing to
# correct (a correction would be an event "by governor").
my $t1 = session($node);
my $t2 = session($node);
my $before = $node->safe_psql('postgres', 'SELECT now()');
$t1->query_safe(q{BEGIN; SELECT poolgov.set_budget('m1', 1)});
$t2->query_safe(q{BEGIN; SELECT poolgov.set_budget('m2', 1)});
$t1->query_safe('COMMIT');
$t2->query_safe('COMMIT');
my $committed = $node->safe_psql('postgres', 'SELECT now()');
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 2 FROM poolgov.budget_usage WHERE role IN ('m1', 'm2')}),
	'concurrently committed budgets are both in force');
ok($node->poll_query_until('postgres',
	"SELECT count(*) >= 11 FROM poolgov.history WHERE sampled_at > '$committed'"),
	'the governor re-read the table since (11 samples)');
is($node->safe_psql('postgres', qq{
	SELECT string_agg(role || ': ' || detail, E'\n' ORDER BY at) FROM poolgov.events
	 WHERE kind = 'budget_changed' AND at >= '$before'}),
	"m1: budget set: max_connections 1, priority normal by postgres\n"
	  . "m2: budget set: max_connections 1, priority normal by postgres",
	'the two COMMITs installed both rules; the governor corrected nothing');
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

# --- Off: no checks at all, and the connections are still tracked.
$node->safe_psql('postgres', q{ALTER SYSTEM SET poolgov.enforce = 'off'});
$node->reload;
ok($node->poll_query_until('postgres', q{SELECT current_setting('poolgov.enforce') = 'off'}),
	'enforce = off after reload');
my $t_off = $node->safe_psql('postgres', 'SELECT now()');
push @warned, session($node, user => 'app');
is($node->safe_psql('postgres', q{SELECT warned || '/' || rejected_budget FROM poolgov.stats}),
	'2/0', 'off: a fourth app login over the budget of 1 is neither warned nor refused');
is($node->safe_psql('postgres', qq{SELECT count(*) FROM poolgov.events
	WHERE kind IN ('warn_budget', 'reject_budget') AND at >= '$t_off'}), 0, 'off: no event for it');
my $would = () = slurp_file($node->logfile) =~ /pg_poolgov would refuse this login/g;
is($would, 2, 'off: nothing logged for it');
is($node->safe_psql('postgres', q{
	SELECT (SELECT connections FROM poolgov.budget_usage WHERE role = 'app') || '/' ||
	       (SELECT count(*) FROM poolgov.connections WHERE role = 'app')}),
	'4/4', 'off: all four are still tracked, against the budget too');

$node->safe_psql('postgres', q{ALTER SYSTEM SET poolgov.enforce = 'on'});
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
ok($node->poll_query_until('postgres', q{SELECT current_setting('poolgov.enforce') = 'on'}),
	'enforce = on after pg_reload_conf()');
$node->connect_fails($node->connstr('postgres') . ' user=app', 'on: refused at once',
	expected_stderr => qr/too many connections for role "app"/);
$_->quit for @warned;
$node->safe_psql('postgres', q{SELECT poolgov.drop_budget('app')});

# --- poolgov.default_budget: the budget of a role without a row of its own,
# at login; the refusal names the setting (53300). A row of its own
# replaces it.
$node->safe_psql('postgres', q{CREATE ROLE dflt LOGIN; ALTER SYSTEM SET poolgov.default_budget = 2});
$node->reload;
ok($node->poll_query_until('postgres', q{SELECT current_setting('poolgov.default_budget') = '2'}),
	'default_budget = 2 after reload');
my @dflt = map { session($node, user => 'dflt') } 1 .. 2;
$node->connect_fails($node->connstr('postgres') . ' user=dflt',
	'default_budget full: the third login is refused',
	expected_stderr => qr/FATAL:  too many connections for role "dflt"\nDETAIL:  Role "dflt" has 2 connections; poolgov\.default_budget allows 2 for a role without a budget of its own\.\nHINT:  Give the role a budget with poolgov\.set_budget\('dflt', \.\.\.\), or raise poolgov\.default_budget\./);
ok($node->log_contains('FATAL:  53300: too many connections for role "dflt"'),
	'default_budget full: SQLSTATE 53300');
is($node->safe_psql('postgres', q{SELECT budget || ' ' || budget_source FROM poolgov.roles WHERE role = 'dflt'}),
	'2 default', 'poolgov.roles shows the default budget');
$node->safe_psql('postgres', q{SELECT poolgov.set_budget('dflt', 3)});
push @dflt, session($node, user => 'dflt');
is($node->safe_psql('postgres', q{SELECT connections FROM poolgov.budget_usage WHERE role = 'dflt'}),
	3, 'with a budget of its own (3) the default no longer applies');
$_->quit for @dflt;
$node->safe_psql('postgres', q{ALTER SYSTEM RESET poolgov.default_budget; SELECT pg_reload_conf()});
$node->stop;

# --- No superuser reserve (superuser_reserved_connections = 0): a superuser
# over its budget is refused; there is nothing to overdraw (budgets.md,
# "Locked out").
my $nores = poolgov_node('no_superuser_reserve', conf => q{
superuser_reserved_connections = 0
poolgov.exempt_superusers = off
});
$nores->safe_psql('postgres', q{CREATE ROLE boss LOGIN SUPERUSER; SELECT poolgov.set_budget('boss', 1)});
my $b1 = session($nores, user => 'boss');
$b1->query_safe('SELECT 1');
$nores->connect_fails($nores->connstr('postgres') . ' user=boss',
	'superuser_reserved_connections = 0: a superuser over its budget is refused',
	expected_stderr => qr/too many connections for role "boss"/);
is($nores->safe_psql('postgres', q{SELECT count(*) FROM poolgov.events WHERE kind = 'superuser_overdraft'}),
	'0', 'superuser_reserved_connections = 0: no overdraft');
$b1->quit;
$nores->stop;

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
# Under warn the normal role gets a reserved slot, and pg_poolgov records
# what on would have done.
$small->safe_psql('postgres', q{ALTER SYSTEM SET poolgov.enforce = 'warn'; SELECT pg_reload_conf()});
ok($small->poll_query_until('postgres', q{SELECT current_setting('poolgov.enforce') = 'warn'}),
	'enforce = warn after reload');
my $over = session($small, user => 'app');
is($over->query_safe('SELECT current_user'), 'app', 'warn: a normal login gets a reserved slot');
is($small->safe_psql('postgres', q{SELECT warned || '/' || rejected_reserve FROM poolgov.stats}),
	'1/2', 'warn: counted as warned, not refused');
like($small->safe_psql('postgres', q{SELECT string_agg(role || ': ' || detail, ', ')
	FROM poolgov.events WHERE kind = 'warn_reserve'}),
	qr/^app: \d+ connections are open; only 7 of the connection slots are open to roles that are not priority roles, and role "app" is not one\.$/,
	'warn: one warn_reserve event with the numbers');
ok($small->log_contains('pg_poolgov would refuse this login: remaining connection slots are reserved for pg_poolgov priority roles'),
	'warn: the log says what on would do');
$_->quit for (@normal, $oncall, $monitor, $over);
$small->stop;

done_testing();
