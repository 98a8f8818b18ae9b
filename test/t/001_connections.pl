# Connection tracking under churn: 50 sessions open and close at once, some
# are terminated, a pgbench -C storm reconnects for every transaction, and a
# backend is killed with SIGKILL so the postmaster restarts. Each time,
# pg_poolgov's count equals pg_stat_activity's client backends and no slot
# is left behind.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use PoolgovTest;

my $node = poolgov_node('churn');
wait_counts_agree($node, 'at start');

# 50 sessions that connect at once, sleep a random moment and disconnect;
# ten of them are ended with pg_terminate_backend while they sleep.
my @clients = map { start_psql($node, 'SELECT pg_sleep(3 + random())') } 1 .. 50;
ok($node->poll_query_until('postgres',
	q{SELECT count(*) >= 40 FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(3 + random())'}),
	'the sessions are connected');
my $terminated = $node->safe_psql('postgres', q{
	SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
	  FROM (SELECT pid FROM pg_stat_activity
	         WHERE query LIKE 'SELECT pg_sleep(3 + random())' LIMIT 10) s});
is($terminated, 10, 'ten sessions terminated mid-statement');
$_->finish for @clients;    # terminated ones exit non-zero: expected
wait_counts_agree($node, 'after 50 sessions came and went');

# Open idle sessions, then end them three ways: quit, client killed, and
# pg_terminate_backend.
my @idle = map { session($node) } 1 .. 30;
my ($with_idle) = client_counts($node);
cmp_ok($with_idle, '>=', 31, 'thirty idle sessions counted');
$_->quit for @idle[0 .. 9];
$_->{run}->kill_kill for @idle[10 .. 19];
my @pids = map { $_->query_safe('SELECT pg_backend_pid()') } @idle[20 .. 29];
$node->safe_psql('postgres', "SELECT pg_terminate_backend(pid) FROM unnest(ARRAY[" . join(',', @pids) . "]) pid");
wait_counts_agree($node, 'after quit, client kill and terminate');

# A connect-per-transaction storm while backends are being terminated.
$node->safe_psql('postgres', 'CREATE TABLE storm_t AS SELECT 1 AS x');
my $script = $node->basedir . '/storm.sql';
PostgreSQL::Test::Utils::append_to_file($script, "SELECT x FROM storm_t;\n");
my ($out, $err) = ('', '');
my $pgbench = IPC::Run::start(
	[ 'pgbench', '-n', '-C', '-c', '16', '-j', '2', '-T', '4', '-f', $script,
	  '-d', $node->connstr('postgres') ],
	'>', \$out, '2>', \$err);
my $end = time() + 3.5;
my $killed = 0;
while (time() < $end)
{
	$killed += $node->safe_psql('postgres', q{
		SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
		  FROM pg_stat_activity
		 WHERE query = 'SELECT x FROM storm_t;' AND pid <> pg_backend_pid()
		 LIMIT 2});
	usleep(100_000);
}
$pgbench->finish;
note("pgbench: $out");
cmp_ok($killed, '>', 0, 'backends terminated during the storm');
like($out, qr/number of transactions actually processed: [1-9]/, 'the storm ran transactions');
my $accepted = $node->safe_psql('postgres', 'SELECT accepted FROM poolgov.stats');
cmp_ok($accepted, '>', 100, 'the storm logged in many times');
wait_counts_agree($node, 'after the storm');

# SIGKILL one backend: the postmaster resets shared memory and restarts.
my $victim = session($node);
my $victim_pid = $victim->query_safe('SELECT pg_backend_pid()');
my $before = $node->safe_psql('postgres', 'SELECT now()');
kill 'KILL', $victim_pid;
$victim->{run}->kill_kill;
ok($node->poll_query_until('postgres', "SELECT stats_reset > '$before' FROM poolgov.stats"),
	'crash restart gave pg_poolgov fresh shared memory');
ok($node->log_contains('terminating any other active server processes'),
	'the postmaster did a crash restart');
wait_counts_agree($node, 'after the crash restart');
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pg_poolgov governor'}),
	'the governor is back');

# Sessions after the restart are tracked as before.
my @after = map { session($node) } 1 .. 5;
my ($n_after, $psa_after) = client_counts($node);
is($n_after, $psa_after, 'new sessions after the restart are counted');
cmp_ok($n_after, '>=', 6, 'five sessions and the checker');
$_->quit for @after;
wait_counts_agree($node, 'at the end');

$node->stop;
done_testing();
