# The governor: samples into poolgov.history, reloads its settings on SIGHUP,
# comes back after SIGKILL (crash restart) and after pg_terminate_backend
# (postmaster restart of the worker), and stops cleanly with the server.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use PoolgovTest;

my $node = poolgov_node('governor');

sub governor_pid
{
	return $node->safe_psql('postgres',
		q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_poolgov governor'});
}

sub history_count
{
	return $node->safe_psql('postgres', 'SELECT count(*) FROM poolgov.history');
}

ok($node->poll_query_until('postgres', 'SELECT count(*) >= 5 FROM poolgov.history'),
	'history fills');
my $n1 = history_count();
sleep 1;
cmp_ok(history_count(), '>=', $n1 + 5, 'about ten samples a second at 100 ms');

# SIGHUP: a new interval takes effect without a restart.
$node->safe_psql('postgres', q{ALTER SYSTEM SET poolgov.sample_interval = '400ms'});
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
sleep 3;
my $median = $node->safe_psql('postgres', q{
	SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM d))
	  FROM (SELECT sampled_at - lag(sampled_at) OVER (ORDER BY sampled_at) AS d
	          FROM poolgov.history ORDER BY sampled_at DESC LIMIT 5) x});
cmp_ok($median, '>=', 0.3, "interval after reload is about 400 ms ($median s)");
cmp_ok($median, '<', 1.0, 'and not more');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET poolgov.sample_interval');
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');

# SIGTERM (pg_terminate_backend): the worker exits and the postmaster starts
# it again after its restart interval; client sessions are not disturbed.
my $bystander = session($node);
my $pid1 = governor_pid();
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid1)");
ok($node->poll_query_until('postgres',
	qq{SELECT count(*) = 1 FROM pg_stat_activity
	    WHERE backend_type = 'pg_poolgov governor' AND pid <> $pid1}),
	'the governor is restarted after SIGTERM');
is($bystander->query_safe('SELECT 42'), '42', 'a client session survived');
my $n2 = history_count();
ok($node->poll_query_until('postgres', "SELECT count(*) >= $n2 + 5 FROM poolgov.history"),
	'history keeps growing after the restart');
$bystander->quit;

# SIGKILL: the postmaster treats it as a crash and restarts everything.
my $pid2 = governor_pid();
my $killed_at = $node->safe_psql('postgres', 'SELECT now()');
kill 'KILL', $pid2;
ok($node->poll_query_until('postgres',
	qq{SELECT count(*) = 1 FROM pg_stat_activity
	    WHERE backend_type = 'pg_poolgov governor' AND pid <> $pid2}),
	'the governor is back after SIGKILL');
ok($node->poll_query_until('postgres',
	qq{SELECT count(*) >= 5 FROM poolgov.history WHERE sampled_at > '$killed_at'}),
	'history grows again after the crash restart');
ok($node->log_contains('pg_poolgov governor.*terminated by signal 9'),
	'the crash is in the log');

# Clean stop: the governor exits with the server, without a crash.
$node->stop('fast');
ok(!$node->log_contains('server process.*was terminated by signal 11'), 'no segfault');
done_testing();
