# Statement timing across sessions: exact counts per role from concurrent
# sessions; a cancelled statement and a backend terminated mid-statement
# leave the counts consistent and nothing locked; and with
# pg_stat_statements loaded beside pg_poolgov, in either order, a role's
# statement count equals the sum of its calls there and total time agrees.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PoolgovTest;

my $node = poolgov_node('timing');
$node->safe_psql('postgres', join ';', map { "CREATE ROLE r$_ LOGIN" } 1 .. 4);

# 8 sessions (two per role) x 1000 statements, all at once.
my $file = $node->basedir . '/thousand.sql';
append_to_file($file, "SELECT 1;\n" x 1000);
my @runs;
for my $i (1 .. 8)
{
	my $role = 'r' . (1 + $i % 4);
	push @runs, IPC::Run::start(
		[ 'psql', '-X', '-q', '-d', $node->connstr('postgres') . " user=$role", '-f', $file ],
		'>', '/dev/null', '2>', \my $err);
}
$_->finish for @runs;
is($node->safe_psql('postgres', q{
	SELECT string_agg(role || '=' || statements || '/' || errors, ' ' ORDER BY role)
	  FROM poolgov.roles WHERE role LIKE 'r_'}),
	'r1=2000/0 r2=2000/0 r3=2000/0 r4=2000/0', 'exact statement counts per role');

# statement_timeout cancels a statement: one error, no statement.
$node->safe_psql('postgres', 'CREATE ROLE canceled LOGIN');
my $s = session($node, user => 'canceled');
$s->query_safe('SELECT 1');
$s->query(q{SET statement_timeout = '100ms'});
my $out = $s->query('SELECT pg_sleep(5)');
like($s->{stderr}, qr/canceling statement due to statement timeout/, 'statement cancelled');
$s->{stderr} = '';
$s->query_safe('SELECT 2');
is($node->safe_psql('postgres', q{SELECT statements || '/' || errors FROM poolgov.roles WHERE role = 'canceled'}),
	'3/1', 'live: SELECT 1, SET, SELECT 2 counted; the cancelled one is an error');
$s->quit;
ok($node->poll_query_until('postgres', q{
	SELECT connections = 0 AND statements = 3 AND errors = 1
	  FROM poolgov.roles WHERE role = 'canceled'}),
	'after exit the same counts are kept');

# A backend terminated in the middle of a statement: what it finished stays
# counted, the interrupted statement is not, and nothing stays locked.
$node->safe_psql('postgres', 'CREATE ROLE killed LOGIN');
my $k = session($node, user => 'killed');
$k->query_safe('SELECT 1') for 1 .. 5;
my $kpid = $k->query_safe('SELECT pg_backend_pid()');
$k->{stdin} .= "SELECT pg_sleep(30);\n";
$k->{run}->pump_nb;
ok($node->poll_query_until('postgres',
	"SELECT state = 'active' FROM poolgov.connections WHERE pid = $kpid"), 'statement running');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($kpid)");
ok($node->poll_query_until('postgres', q{
	SELECT connections = 0 AND statements = 6 AND errors = 0
	  FROM poolgov.roles WHERE role = 'killed'}),
	'terminated backend: six finished statements kept, the interrupted one not counted');
$k->{run}->kill_kill;
$node->connect_ok($node->connstr('postgres') . ' user=killed', 'logins still work (no lock held)');

# poolgov.log_slow_queries writes one LOG line per slow statement; it is off
# by default. (The test cluster logs every statement too, so count ours.)
$node->safe_psql('postgres', q{SET poolgov.log_slow_queries = on; SELECT pg_sleep(0.15) AS logged_nap});
$node->safe_psql('postgres', q{SELECT pg_sleep(0.15) AS not_logged_nap});
my $log = slurp_file($node->logfile);
my @slow = $log =~ /LOG:  pg_poolgov: slow statement: \d+\.\d{3} ms\n[^\n]*DETAIL:  Role "postgres", database "postgres", 1 rows: ([^\n]*)/g;
is_deeply(\@slow, ['SELECT pg_sleep(0.15) AS logged_nap'],
	'log_slow_queries: one LOG line with duration, role, database, rows and text; off by default');

# The statement clock (the CPU's time-stamp counter where the kernel keeps
# time with it, else clock_gettime: docs/statement-timing.md) agrees with real
# time: a 0.2 s sleep is recorded as 200 to 400 ms, timed around the
# executor (a SELECT) and around a utility command (a DO block), in the
# slow-query log and in the role's total.
$node->safe_psql('postgres', 'CREATE ROLE clocked LOGIN');
$node->safe_psql('postgres', 'SELECT pg_sleep(0.2) AS clocked_select', extra_params => [ '-U', 'clocked' ]);
$node->safe_psql('postgres', 'DO $$BEGIN PERFORM pg_sleep(0.2); END$$', extra_params => [ '-U', 'clocked' ]);
is($node->safe_psql('postgres', q{
	SELECT string_agg(CASE WHEN query LIKE 'SELECT%' THEN 'select' ELSE 'do' END || ':' ||
	                  (duration_ms BETWEEN 200 AND 400), ' ' ORDER BY query DESC)
	  FROM poolgov.slow_queries WHERE role = 'clocked'}),
	'select:true do:true', 'a 0.2 s sleep is recorded as 200 to 400 ms (slow-query log)');
ok($node->poll_query_until('postgres', q{
	SELECT total_ms BETWEEN 400 AND 800 FROM poolgov.roles WHERE role = 'clocked'}),
	'two 0.2 s sleeps total 400 to 800 ms (poolgov.roles)');
wait_counts_agree($node, 'after cancel and terminate');
$node->stop;

# Accuracy against pg_stat_statements, in both preload orders.
for my $order ('pg_poolgov,pg_stat_statements', 'pg_stat_statements,pg_poolgov')
{
	my $n = poolgov_node("pgss_" . ($order =~ /^pg_poolgov/ ? 'after' : 'before'),
		preload => $order, conf => q{
pg_stat_statements.track = top
pg_stat_statements.track_utility = on
poolgov.track = top
poolgov.track_utility = on
});
	$n->safe_psql('postgres', q{
		CREATE EXTENSION pg_stat_statements;
		CREATE ROLE acc LOGIN;
		CREATE FUNCTION nested() RETURNS int LANGUAGE plpgsql AS
		  'BEGIN PERFORM 1; PERFORM 2; RETURN 3; END';
		CREATE PROCEDURE txn_control(n int) LANGUAGE plpgsql AS $$
		BEGIN
		    FOR i IN 1..n LOOP
		        PERFORM i;
		        IF i % 2 = 0 THEN ROLLBACK; ELSE COMMIT; END IF;
		    END LOOP;
		END $$;
		GRANT EXECUTE ON PROCEDURE txn_control(int) TO acc;
	});
	$n->command_ok([ 'pgbench', '-i', '-s', '1', '-q', '-d', $n->connstr('postgres') ],
		'pgbench tables');
	$n->safe_psql('postgres', q{
		GRANT SELECT, UPDATE, INSERT ON ALL TABLES IN SCHEMA public TO acc;
		SELECT pg_stat_statements_reset();
		SELECT poolgov.reset();
	});
	$n->command_ok([ 'pgbench', '-n', '-S', '-M', 'prepared', '-c', '4', '-j', '2', '-T', '3',
		'-d', $n->connstr('postgres') . ' user=acc' ], "pgbench as acc ($order)");
	$n->command_ok([ 'pgbench', '-n', '-M', 'simple', '-c', '2', '-T', '2',
		'-d', $n->connstr('postgres') . ' user=acc' ], "tpcb as acc ($order)");
	$n->psql('postgres', q{
		SELECT nested();
		CALL txn_control(50);
		CALL txn_control(7);
		CREATE TEMP TABLE tt AS SELECT 1 AS x;
		PREPARE p AS SELECT x FROM tt;
		EXECUTE p;
		EXECUTE p;
		DEALLOCATE p;
		SELECT 1 / 0;
	}, extra_params => [ '-U', 'acc' ]);
	my ($ours, $ours_ms, $theirs, $theirs_ms) = split /\|/, $n->safe_psql('postgres', q{
		SELECT (SELECT statements FROM poolgov.roles WHERE role = 'acc'),
		       (SELECT total_ms FROM poolgov.roles WHERE role = 'acc'),
		       (SELECT sum(calls) FROM pg_stat_statements WHERE userid = 'acc'::regrole),
		       (SELECT sum(total_exec_time) FROM pg_stat_statements WHERE userid = 'acc'::regrole)});
	note("$order: ours $ours statements $ours_ms ms, pg_stat_statements $theirs calls $theirs_ms ms");
	cmp_ok($ours, '>', 1000, "$order: a real workload");
	is($ours, $theirs, "$order: statement count equals pg_stat_statements calls");
	# The two clocks nest (one hook runs inside the other), so on a loaded
	# machine preemption in the outer one's extra span skews them apart:
	# 2.24 % was seen once with a load average of 9; 3 % still catches a
	# clock that misses a kind of statement or counts one twice.
	cmp_ok(abs($ours_ms - $theirs_ms) / $theirs_ms, '<', 0.03,
		"$order: total time within 3 % of pg_stat_statements");
	$n->stop;
}

done_testing();
