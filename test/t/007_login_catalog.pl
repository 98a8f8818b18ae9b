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

done_testing();
