# Admission control: at most poolgov.max_active_transactions transactions
# run; the rest wait in FIFO order and get the slot handed over; waits end
# with a timeout (53000), cancel or terminate without losing a slot; a
# waiter that holds a lock someone needs is admitted past the limit; nothing
# deadlocks with itself at limit 1; the heavy lane (queued_heavy: a running
# block waiting for it), per-role and per-group max_active (caps re-read
# after a budget change, the tightest of more than 4 kept) and the
# idle-in-transaction rule (FATAL 25P03). Every statement a session sends
# in the background is checked for its output, not only for the states it
# leaves behind.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use PoolgovTest;

# Strict FIFO within a class (bound 0) for the sections that check arrival
# order; the last section checks the newest-first order of the bound.
my $node = poolgov_node('admission', conf => q{
poolgov.max_active_transactions = 2
poolgov.admission_timeout = 20s
poolgov.admission_fairness_bound = 0
deadlock_timeout = 200ms
max_prepared_transactions = 2
});
$node->safe_psql('postgres', q{
	CREATE ROLE app LOGIN;
	CREATE ROLE other LOGIN;
	CREATE TABLE t (x int);
	CREATE TABLE arrivals (id int, at timestamptz);
	GRANT ALL ON t, arrivals TO app, other;
	GRANT CREATE ON SCHEMA public TO app;
});
my $app = $node->connstr('postgres') . ' user=app';

sub admission_counts
{
	return $node->safe_psql('postgres', q{
		SELECT count(*) FILTER (WHERE admission IN ('running', 'heavy', 'overdraft', 'queued_heavy')),
		       count(*) FILTER (WHERE admission IN ('queued', 'queued_heavy'))
		  FROM poolgov.connections});
}

sub set_conf
{
	my ($conf) = @_;
	$node->append_conf('postgresql.conf', $conf);
	$node->reload;
	# Every backend reads the new settings at its next command; give the
	# reload a moment to reach the postmaster.
	usleep(300_000);
}

# --- 10 sessions, limit 2: never more than 2 running, FIFO, all finish.
my @runs;
my $start = time;
my $monitor = session($node);    # (a superuser: exempt)
for my $id (1 .. 10)
{
	push @runs, start_psql($node, qq{
		BEGIN;
		INSERT INTO arrivals VALUES ($id, clock_timestamp());
		SELECT pg_sleep(0.6);
		COMMIT;}, user => 'app');
	# Arrive in order: each one admitted or queued before the next starts
	# (a fixed pause is not enough on a loaded machine).
	my $t = time;
	usleep(5_000) until $monitor->query_safe(
		'SELECT admission_admitted + admission_queued FROM poolgov.stats') >= $id || time - $t > 10;
	# Arrivals 50 ms apart (each holds its slot 0.6 s, so all ten have
	# come while the first two still run): the two slots then free 50 ms
	# apart, so two consecutive grants are that far apart, and only a
	# granted backend's wake-up slower than 50 ms could reorder the inserts
	# that record the order. (With arrivals a few ms apart, a PostgreSQL 18
	# run on a loaded machine recorded 10 before 9.)
	usleep(50_000);
}
$monitor->quit;
my ($max_running, $max_queued) = (0, 0);
while (time - $start < 30)
{
	my ($r, $q, $done) = split /\|/, $node->safe_psql('postgres', q{
		SELECT count(*) FILTER (WHERE admission IN ('running', 'heavy', 'overdraft', 'queued_heavy')),
		       count(*) FILTER (WHERE admission IN ('queued', 'queued_heavy')),
		       (SELECT count(*) FROM arrivals)
		  FROM poolgov.connections});
	$max_running = $r if $r > $max_running;
	$max_queued = $q if $q > $max_queued;
	last if $done == 10 && $r == 0 && $q == 0;
	usleep(20_000);
}
$_->finish for @runs;
is($max_running, 2, 'never more than 2 transactions running');
cmp_ok($max_queued, '>=', 5, "others queued (max $max_queued)");
is($node->safe_psql('postgres', 'SELECT count(*) FROM arrivals'), '10', 'all 10 finished');
is($node->safe_psql('postgres', q{
	SELECT string_agg(id::text, ',' ORDER BY at) FROM arrivals}),
	'1,2,3,4,5,6,7,8,9,10', 'admitted in arrival order (FIFO)');
is(admission_counts(), '0|0', 'nothing running or queued afterwards');

# --- Timeout: 53000, the transaction aborts, the session goes on.
set_conf("poolgov.max_active_transactions = 1\npoolgov.admission_timeout = 400ms");
my $holder = session($node, user => 'app');
$holder->query_safe('BEGIN; SELECT 1;');
my $waiter = session($node, user => 'app');
$waiter->query(q{\set VERBOSITY verbose
SELECT 42;});
like($waiter->{stderr}, qr/53000.*pg_poolgov admission timeout/s, 'timeout raises 53000');
like($waiter->{stderr}, qr/1 transactions running, 0 queued, poolgov.max_active_transactions = 1/,
	'DETAIL gives running, queued and the limit');
$waiter->{stderr} = '';
$holder->query_safe('COMMIT');
is($waiter->query_safe('SELECT 43'), '43', 'the session is usable after the timeout');
$waiter->quit;
like($node->safe_psql('postgres', q{SELECT string_agg(kind || ': ' || detail, '; ') FROM poolgov.events WHERE kind = 'admission_timeout'}),
	qr/admission_timeout: waited \d+ ms; 1 running, 0 queued, limit 1/, 'admission_timeout event');

# --- Cancel and terminate while queued; terminate the running holder.
set_conf("poolgov.admission_timeout = 0");
my (@queued, @qpids);
for my $i (1 .. 3)
{
	my $s = session($node, user => 'app');
	push @qpids, $s->query_safe('SELECT pg_backend_pid()');
	push @queued, $s;
}
$holder->query_safe('BEGIN; SELECT 1;');
$_->{stdin} .= "SELECT pg_sleep(0.1), 'through';\n" for @queued;
$_->{run}->pump_nb for @queued;
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 3 FROM poolgov.connections WHERE admission = 'queued'}), 'three queued');
# From PostgreSQL 17 the wait has a name of its own (WaitEventExtensionNew).
my $wait_name = $node->pg_version >= 17 ? 'PoolgovAdmission' : 'Extension';
is($node->safe_psql('postgres', qq{
	SELECT count(*) FROM pg_stat_activity a JOIN poolgov.connections c USING (pid)
	 WHERE c.admission = 'queued' AND a.wait_event_type = 'Extension'
	   AND a.wait_event = '$wait_name'}),
	'3', "a queued backend waits with wait event Extension / $wait_name");
$node->safe_psql('postgres', "SELECT pg_cancel_backend($qpids[0])");
$node->safe_psql('postgres', "SELECT pg_terminate_backend($qpids[1])");
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM poolgov.connections WHERE admission = 'queued'}),
	'cancelled and terminated waiters left the queue');
my $holder_pid = $node->safe_psql('postgres', q{
	SELECT pid FROM poolgov.connections WHERE admission = 'running'});
$node->safe_psql('postgres', "SELECT pg_terminate_backend($holder_pid)");
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 0 FROM poolgov.connections WHERE admission IN ('queued', 'running')}),
	'terminating the holder handed its slot on; the last waiter ran and finished');
$queued[2]->{run}->pump until $queued[2]->{stdout} =~ /through/ || !$queued[2]->{run}->pumpable;
like($queued[2]->{stdout}, qr/through/, 'the last waiter ran');
$queued[0]->{run}->pump until $queued[0]->{stderr} =~ /canceling/ || !$queued[0]->{run}->pumpable;
like($queued[0]->{stderr}, qr/canceling statement due to user request/, 'the cancelled waiter got its error');
$queued[0]->{stderr} = '';
$queued[0]->{stdout} = '';
$queued[0]->query_safe('SELECT 1');
$queued[0]->quit;
$queued[2]->quit;
$queued[1]->{run}->kill_kill;
$holder->{run}->kill_kill;

# --- Lock safety: a queued statement holds a lock the running transaction
# needs. Limit 1, deadlock_timeout 200ms.
my $a = session($node, user => 'app');
$a->query_safe('BEGIN; SELECT 1;');
my $b = session($node, user => 'app');
$b->{stdin} .= "SELECT count(*) AS b_done FROM t;\n";
$b->{run}->pump_nb;
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM poolgov.connections WHERE admission = 'queued'}), 'B queued holding its lock on t');
my $t0 = time;
$a->query_safe('LOCK TABLE t IN ACCESS EXCLUSIVE MODE; COMMIT;');
my $took = time - $t0;
cmp_ok($took, '<', 0.2 + 2, sprintf('LOCK TABLE got its lock in %.2f s (deadlock_timeout + 2 s)', $took));
session_output($b, qr/^\d+$/m);
is($b->{stdout} . $b->{stderr}, "0\n", 'the queued lock holder ran its statement');
like($node->safe_psql('postgres', q{SELECT string_agg(detail, '; ') FROM poolgov.events WHERE kind = 'admission_overdraft'}),
	qr/admitted past the limit of 1/, 'the queued lock holder was admitted past the limit');

# The same with an advisory lock held across transactions.
$b->query_safe('SELECT pg_advisory_lock(7)');
$a->query_safe('BEGIN; SELECT 1;');
$b->{stdin} .= "SELECT 'b2';\n";
$b->{run}->pump_nb;
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM poolgov.connections WHERE admission = 'queued'}), 'B queued holding an advisory lock');
$t0 = time;
$a->{stdin} .= "SELECT pg_advisory_lock(7); SELECT pg_advisory_unlock(7); COMMIT;\n";
$a->{run}->pump_nb;
$b->{run}->pump until $b->{stdout} =~ /b2/ || time - $t0 > 10;
$took = time - $t0;
cmp_ok($took, '<', 0.2 + 2, sprintf('the queued advisory lock holder ran after %.2f s', $took));
$b->{stdout} = '';
$b->query_safe('SELECT pg_advisory_unlock(7)');
session_output($a, qr/^t$/m);
# pg_advisory_lock() prints an empty line, pg_advisory_unlock() "t".
is($a->{stdout} . $a->{stderr}, "\nt\n", 'A got the advisory lock once B let it go, and committed');
ok($node->poll_query_until('postgres', q{
	SELECT NOT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory')}),
	'no advisory lock left');
$a->quit;
$b->quit;
is(admission_counts(), '0|0', 'nothing running or queued after the lock tests');

# --- No self-deadlock at limit 1: everything runs nested inside one slot.
set_conf("poolgov.admission_timeout = 3s");
my ($ok, $out, $err) = (0, '', '');
$node->psql('postgres', q{
	CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$
	  BEGIN PERFORM count(*) FROM t; INSERT INTO t VALUES (1); RETURN (SELECT count(*) FROM t); END $$;
	SELECT f();
	CREATE MATERIALIZED VIEW mv AS SELECT count(*) FROM t;
	REFRESH MATERIALIZED VIEW mv;
	CREATE TABLE t2 AS SELECT * FROM t;
	EXPLAIN ANALYZE SELECT * FROM t;
	COPY (SELECT * FROM t) TO STDOUT;
	BEGIN;
	DECLARE c CURSOR FOR SELECT * FROM t;
	FETCH 1 FROM c;
	CLOSE c;
	COMMIT;
	BEGIN;
	INSERT INTO t VALUES (2);
	PREPARE TRANSACTION 'p1';
	COMMIT PREPARED 'p1';
	SELECT 'all done';
}, stdout => \$out, stderr => \$err, extra_params => [ '-U', 'app', '-v', 'ON_ERROR_STOP=1' ]);
like($out, qr/all done/, 'functions, REFRESH, CTAS, EXPLAIN ANALYZE, COPY, cursors and PREPARE TRANSACTION ran at limit 1');
is($err =~ /admission timeout/ ? $err : '', '', 'no admission timeout among them');
for my $mode ('prepared', 'extended')
{
	$node->command_ok([ 'pgbench', '-n', '-M', $mode, '-c', '4', '-j', '2', '-t', '50',
		'-f', $node->basedir . '/tx.sql', '-d', $app ], "pgbench -M $mode at limit 1")
	  if append_to_file($node->basedir . '/tx.sql',
		-e $node->basedir . '/tx.sql' ? '' : "BEGIN;\nSELECT count(*) FROM t;\nINSERT INTO t VALUES (3);\nEND;\nSELECT 1;\n") || 1;
}
is(admission_counts(), '0|0', 'nothing running or queued after pgbench');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_prepared_xacts}), '0', 'no prepared transaction left');

# --- Heavy lane: limit 4, one heavy slot; heavy statements serialize while
# light ones pass.
# A session that took its slots by the statement path's cached verdict
# (these limits, no lane) before the lane is switched on.
my $early = session($node, user => 'app');
$early->query_safe('SELECT 1');
$early->query_safe('SELECT 2');
my $early_pid = $early->query_safe('SELECT pg_backend_pid()');
set_conf("poolgov.max_active_transactions = 4\npoolgov.max_heavy_transactions = 1\npoolgov.heavy_cost = 10000\npoolgov.admission_timeout = 20s");
# Estimated at 13,333 (a light SELECT on t at about 42); it sleeps 1.5 s.
my $heavy_sql = q{SELECT pg_sleep(1.5), count(*) FROM generate_series(1, 1000000) g WHERE g < 0};
$early->{stdin} .= "$heavy_sql;\n";
$early->{run}->pump_nb;
ok($node->poll_query_until('postgres', "SELECT admission = 'heavy' FROM poolgov.connections WHERE pid = $early_pid"),
	'a session that took slots before the lane was switched on takes the heavy slot');
session_output($early, qr/^\|0$/m);
is($early->{stdout} . $early->{stderr}, "|0\n", 'and its heavy statement ran');
$early->quit;
my $h1 = session($node, user => 'app');
my $h2 = session($node, user => 'app');
$h1->query_safe("BEGIN; SELECT 1;");
$h1->{stdin} .= "$heavy_sql;\n";
$h1->{run}->pump_nb;
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM poolgov.connections WHERE admission = 'heavy'}),
	'a heavy statement holds the heavy slot');
$h2->{stdin} .= "$heavy_sql;\n";
$h2->{run}->pump_nb;
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM poolgov.connections WHERE admission = 'queued'}),
	'a second heavy transaction waits for the lane');
is($node->psql('postgres', 'SELECT count(*) FROM t', extra_params => [ '-U', 'app' ]), 0,
	'a light statement passes meanwhile');
is($node->safe_psql('postgres', q{SELECT admission FROM poolgov.connections WHERE admission <> 'none' ORDER BY admission}),
	"heavy\nqueued", 'the light statement left nothing behind; the second heavy one still waits');
session_output($h1, qr/^\|0$/m);
is($h1->{stdout} . $h1->{stderr}, "|0\n", 'the first heavy statement ran');
$h1->query_safe('COMMIT');
session_output($h2, qr/^\|0$/m);
is($h2->{stdout} . $h2->{stderr}, "|0\n", 'the waiting heavy one ran after the first committed');
is(admission_counts(), '0|0', 'nothing running or queued after the heavy statements');
$h1->quit;
$h2->quit;

# A heavy statement inside a block that already runs waits for the lane
# keeping its slot: queued_heavy.
$h1 = session($node, user => 'app');
$h2 = session($node, user => 'app');
my $h2_pid = $h2->query_safe('SELECT pg_backend_pid()');
$h1->query_safe("BEGIN; SELECT 1;");
$h1->{stdin} .= "$heavy_sql;\n";
$h1->{run}->pump_nb;
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM poolgov.connections WHERE admission = 'heavy'}),
	'queued_heavy: h1 holds the heavy slot');
$h2->query_safe('BEGIN; INSERT INTO t VALUES (4);');
$h2->{stdin} .= "$heavy_sql;\n";
$h2->{run}->pump_nb;
ok($node->poll_query_until('postgres', "SELECT admission = 'queued_heavy' FROM poolgov.connections WHERE pid = $h2_pid"),
	'queued_heavy: a running block\'s heavy statement waits for the lane');
is($node->safe_psql('postgres', q{
	SELECT admission_running || '/' || admission_queued || '/' || (queued_since IS NOT NULL)
	  FROM poolgov.stats, poolgov.connections WHERE pid = } . $h2_pid),
	'2/1/true', 'queued_heavy: it holds its slot and counts as queued, since its wait began');
session_output($h1, qr/^\|0$/m);
$h1->query_safe('COMMIT');
session_output($h2, qr/^\|0$/m);
is($h2->{stdout} . $h2->{stderr}, "|0\n", 'queued_heavy: its heavy statement ran once the lane was free');
is($node->safe_psql('postgres', "SELECT admission FROM poolgov.connections WHERE pid = $h2_pid"),
	'heavy', 'queued_heavy: it now holds the heavy slot');
$h2->query('ROLLBACK');    # (its output is checked above)
$h1->quit;
$h2->quit;

# The heavy lane alone (max_active_transactions = 0): only heavy
# transactions take part.
set_conf("poolgov.max_active_transactions = 0");
$h1 = session($node, user => 'app');
$h2 = session($node, user => 'app');
$h1->{stdin} .= "$heavy_sql;\n";
$h1->{run}->pump_nb;
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM poolgov.connections WHERE admission = 'heavy'}),
	'heavy lane alone: a heavy statement holds the heavy slot');
$h2->{stdin} .= "$heavy_sql;\n";
$h2->{run}->pump_nb;
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM poolgov.connections WHERE admission = 'queued'}),
	'heavy lane alone: the second heavy statement waits');
my $light = session($node, user => 'app');
$light->query_safe('BEGIN; SELECT count(*) FROM t;');
is($node->safe_psql('postgres', q{SELECT count(*) FROM poolgov.connections WHERE admission = 'running'}),
	'0', 'heavy lane alone: light transactions take no slot');
$light->query_safe('COMMIT');
session_output($h1, qr/^\|0$/m);
is($h1->{stdout} . $h1->{stderr}, "|0\n", 'heavy lane alone: the first heavy statement ran');
session_output($h2, qr/^\|0$/m);
is($h2->{stdout} . $h2->{stderr}, "|0\n", 'heavy lane alone: the second ran after it');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM poolgov.connections WHERE admission <> 'none'}),
	'heavy lane alone: nothing left holding or waiting');
$_->quit for $h1, $h2, $light;
set_conf("poolgov.max_active_transactions = 4");

# --- Priority: high before normal before low (aging off), limit 1.
set_conf("poolgov.max_active_transactions = 1\npoolgov.admission_aging = 0");
$node->safe_psql('postgres', q{
	CREATE ROLE hi LOGIN;
	CREATE ROLE lo LOGIN;
	CREATE TABLE served (who text, at timestamptz);
	GRANT ALL ON served TO hi, lo, app;
	SELECT poolgov.set_budget('hi', NULL, priority => 'high');
	SELECT poolgov.set_budget('lo', NULL, priority => 'low');
});
my $p_holder = session($node, user => 'app');
my %p = map { $_ => session($node, user => $_) } qw(lo app hi);
$p_holder->query_safe('BEGIN; SELECT 1;');
for my $who (qw(lo app hi))    # arrive low first, high last
{
	$p{$who}->{stdin} .= "INSERT INTO served VALUES ('$who', clock_timestamp());\n";
	$p{$who}->{run}->pump_nb;
	my $n = { lo => 1, app => 2, hi => 3 }->{$who};
	ok($node->poll_query_until('postgres',
		"SELECT count(*) = $n FROM poolgov.connections WHERE admission = 'queued'"), "$who queued");
}
$p_holder->query_safe('COMMIT');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 3 FROM served}), 'all three served');
is($node->safe_psql('postgres', q{SELECT string_agg(who, ',' ORDER BY at) FROM served}),
	'hi,app,lo', 'served high, then normal, then low, whatever the arrival order');
$_->quit for $p_holder, values %p;
$node->safe_psql('postgres', q{SELECT poolgov.drop_budget('hi'); SELECT poolgov.drop_budget('lo')});
set_conf("poolgov.max_active_transactions = 4\npoolgov.admission_aging = 5s");

# --- Per-role max_active: a capped role waits, another role passes.
$node->safe_psql('postgres', q{SELECT poolgov.set_budget('app', NULL, max_active => 1)});
my $c1 = session($node, user => 'app');
$c1->query_safe('BEGIN; SELECT 1;');
my $c2 = session($node, user => 'app');
$c2->{stdin} .= "SELECT 'c2';\n";
$c2->{run}->pump_nb;
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM poolgov.connections WHERE admission = 'queued' AND role = 'app'}),
	'the second app transaction waits on its role cap');
is($node->safe_psql('postgres', q{SELECT 'other passes'}, extra_params => [ '-U', 'other' ]), 'other passes',
	'another role passes the capped waiter');
$c1->query_safe('COMMIT');
session_output($c2, qr/c2/);
is($c2->{stdout} . $c2->{stderr}, "c2\n", 'the capped waiter ran when its role had room');
$c1->quit;
$c2->quit;
$node->safe_psql('postgres', q{SELECT poolgov.drop_budget('app')});

# --- max_active on a group role caps the sum over its members; a budget
# change reaches a connection already open at its next transaction.
sub pid_of { return $_[0]->query_safe('SELECT pg_backend_pid()') }
sub admission_of
{
	return $node->safe_psql('postgres', "SELECT admission FROM poolgov.connections WHERE pid = $_[0]");
}
$node->safe_psql('postgres', q{
	CREATE ROLE grp NOLOGIN;
	CREATE ROLE m1 LOGIN IN ROLE grp;
	CREATE ROLE m2 LOGIN IN ROLE grp;
	SELECT poolgov.set_budget('grp', NULL, max_active => 1);
});
my $g1 = session($node, user => 'm1');
my $g2 = session($node, user => 'm2');
my $g2_pid = pid_of($g2);    # (a transaction: m2's caps are read here)
$g1->query_safe('BEGIN; SELECT 1;');
$g2->{stdin} .= "SELECT 'g2 ran';\n";
$g2->{run}->pump_nb;
ok($node->poll_query_until('postgres', "SELECT admission = 'queued' FROM poolgov.connections WHERE pid = $g2_pid"),
	'group cap 1: a member waits while another member of the group runs');
is($node->safe_psql('postgres', q{SELECT 'other passes'}, extra_params => [ '-U', 'other' ]), 'other passes',
	'group cap: another role passes the waiting member');
$g1->query_safe('COMMIT');
session_output($g2, qr/g2 ran/);
is($g2->{stdout} . $g2->{stderr}, "g2 ran\n", 'group cap: the member ran once its group had room');
$node->safe_psql('postgres', q{SELECT poolgov.set_budget('grp', NULL, max_active => 2)});
$g1->query_safe('BEGIN; SELECT 1;');
$g2->{stdout} = '';
$g2->{stdin} .= "BEGIN; SELECT 'g2 again';\n";
$g2->{run}->pump_nb;
session_output($g2, qr/g2 again/, 3);
is($g2->{stdout} . $g2->{stderr}, "g2 again\n",
	'group cap raised to 2: the open connections\' next transactions run side by side');
$g1->query_safe('COMMIT');
$g2->query_safe('COMMIT');
$node->safe_psql('postgres', q{SELECT poolgov.set_budget('grp', NULL, max_active => 1)});
$g1->query_safe('BEGIN; SELECT 1;');
$g2->{stdin} .= "SELECT 'g2 third';\n";
$g2->{run}->pump_nb;
ok($node->poll_query_until('postgres', "SELECT admission = 'queued' FROM poolgov.connections WHERE pid = $g2_pid"),
	'group cap lowered to 1: the next transaction waits again');
$g1->query_safe('COMMIT');
session_output($g2, qr/g2 third/);
is($g2->{stdout} . $g2->{stderr}, "g2 third\n", 'group cap lowered: and runs after the other member');
$_->quit for $g1, $g2;

# A connection under more than 4 caps keeps the tightest, whatever the
# order of its groups: xa's tight group was created and granted last, xb's
# first; four loose groups in between.
$node->safe_psql('postgres', q{
	CREATE ROLE tight_first NOLOGIN;
	CREATE ROLE loose1 NOLOGIN; CREATE ROLE loose2 NOLOGIN;
	CREATE ROLE loose3 NOLOGIN; CREATE ROLE loose4 NOLOGIN;
	CREATE ROLE tight_last NOLOGIN;
	CREATE ROLE xa LOGIN; CREATE ROLE xb LOGIN;
	GRANT loose1 TO xa; GRANT loose2 TO xa; GRANT loose3 TO xa; GRANT loose4 TO xa; GRANT tight_last TO xa;
	GRANT tight_first TO xb; GRANT loose1 TO xb; GRANT loose2 TO xb; GRANT loose3 TO xb; GRANT loose4 TO xb;
	SELECT poolgov.set_budget(r, NULL, max_active => 50) FROM unnest(ARRAY['loose1', 'loose2', 'loose3', 'loose4']) r;
	SELECT poolgov.set_budget('tight_first', NULL, max_active => 1);
	SELECT poolgov.set_budget('tight_last', NULL, max_active => 1);
});
for my $x ('xa', 'xb')
{
	my $x1 = session($node, user => $x);
	my $x2 = session($node, user => $x);
	my $x2_pid = pid_of($x2);
	$x1->query_safe('BEGIN; SELECT 1;');
	$x2->{stdin} .= "SELECT '$x ran';\n";
	$x2->{run}->pump_nb;
	session_output($x2, qr/ran/, 1.5);
	is($x2->{stdout} . $x2->{stderr} . '/' . admission_of($x2_pid), '/queued',
		"5 caps ($x): the tightest (1) holds the second transaction back");
	$x1->query_safe('COMMIT');
	session_output($x2, qr/ran/);
	is($x2->{stdout} . $x2->{stderr}, "$x ran\n", "5 caps ($x): it runs after the first");
	$_->quit for $x1, $x2;
}
$node->safe_psql('postgres', q{
	SELECT poolgov.drop_budget(r) FROM unnest(ARRAY['grp', 'loose1', 'loose2', 'loose3', 'loose4', 'tight_first', 'tight_last']) r});

# --- Idle in transaction with a slot: the session is ended, and says why.
set_conf("poolgov.admission_idle_timeout = 500ms");
my $idle = session($node, user => 'app');
my $idle_pid = $idle->query_safe('SELECT pg_backend_pid()');
$idle->query_safe('\set VERBOSITY verbose');
$idle->query_safe('BEGIN; SELECT 1;');
ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM poolgov.connections WHERE pid = $idle_pid"),
	'the idle session was ended');
$idle->{stdin} .= "SELECT 2;\n";
eval { $idle->{run}->pump while $idle->{stderr} !~ /idle in transaction/ };
like($idle->{stderr}, qr/FATAL:  25P03: terminating connection: idle in transaction while holding a pg_poolgov transaction slot/,
	'the client is told why, with SQLSTATE 25P03');
like($node->safe_psql('postgres', q{SELECT string_agg(kind, ',') FROM poolgov.events WHERE kind = 'admission_idle'}),
	qr/admission_idle/, 'admission_idle event');
$idle->{run}->kill_kill;
is(admission_counts(), '0|0', 'nothing running or queued at the end');

# The counters agree with what happened above.
is($node->safe_psql('postgres', q{
	SELECT admission_running || '/' || admission_queued || '/' || admission_timeouts || '/' ||
	       (admission_overdrafts >= 2) || '/' || admission_idle_ended || '/' ||
	       (admission_waited >= 8) || '/' || (admission_wait_max_ms > 0)
	  FROM poolgov.stats}),
	'0/0/1/true/1/true/true',
	'stats: none running or queued, one timeout, two overdrafts, one idle end, waits recorded');
is($node->safe_psql('postgres', q{
	SELECT (admitted >= 10) || '/' || queued || '/' || admission_timeouts
	  FROM poolgov.roles WHERE role = 'app'}),
	'true/0/1', 'roles: app admitted at least 10, none queued, one timeout');
cmp_ok($node->safe_psql('postgres', q{SELECT max(queued) FROM poolgov.history}), '>=', 1,
	'history recorded a queue');
$node->safe_psql('postgres', 'SELECT poolgov.reset()');
is($node->safe_psql('postgres', q{
	SELECT admission_timeouts || '/' || admission_admitted || '/' || admission_overdrafts
	  FROM poolgov.stats}), '0/0/0', 'poolgov.reset() zeroes the admission counters');

# The fast path (nobody waiting, no caps: a compare-and-swap) counts a
# transaction in its backend's counters with the statement's own record:
# exact all the same. After a reset, six single-statement transactions of
# a role without budgets count six, in its row as in poolgov.stats, and the
# statement that reads them already sees its own admission (a backend
# completes its own counters before reading them).
$node->safe_psql('postgres', 'CREATE ROLE fast LOGIN');
set_conf("poolgov.max_active_transactions = 4");
my $fast = session($node, user => 'fast');
$node->safe_psql('postgres', 'SELECT poolgov.reset()');
$fast->query_safe('SELECT 1') for 1 .. 5;
is($fast->query_safe(q{
	SELECT r.admitted || '/' || s.admission_admitted
	  FROM poolgov.roles r, poolgov.stats s WHERE r.role = 'fast'}),
	'6/6', 'fast-path admissions counted exactly, per role and in total');
$fast->quit;
is($node->safe_psql('postgres', q{SELECT admitted FROM poolgov.roles WHERE role = 'fast'}),
	'6', 'and kept when the session ends');

# --- The grant order's bound follows the mean wait (the factor is read from
# the settings a reload publishes). One slot; a holder, then waiters B, C,
# D, E queued in that order; each waiter, once granted, records when and
# commits, handing the slot on.
sub grant_order
{
	my ($tag) = @_;
	$node->safe_psql('postgres', 'TRUNCATE arrivals');
	my $holder = session($node, user => 'app');
	$holder->query_safe('BEGIN; SELECT 1;');
	my $monitor = session($node);
	my @waiters;
	for my $id (1 .. 4)
	{
		push @waiters, start_psql($node, qq{
			BEGIN;
			INSERT INTO arrivals VALUES ($id, clock_timestamp());
			COMMIT;}, user => 'app');
		my $t = time;
		usleep(5_000) until $monitor->query_safe(
			q{SELECT count(*) FROM poolgov.connections WHERE admission = 'queued'}) >= $id
		  || time - $t > 10;
	}
	$monitor->quit;
	usleep(300_000);    # every waiter has waited 300 ms at least
	$holder->query_safe('COMMIT;');
	$node->poll_query_until('postgres', 'SELECT count(*) = 4 FROM arrivals')
	  or diag("$tag: not all waiters finished");
	$_->finish for @waiters;
	$holder->quit;
	return $node->safe_psql('postgres',
		q{SELECT string_agg(id::text, ',' ORDER BY at) FROM arrivals});
}
# A bound of 0.01 x the mean wait (a few ms at most here): every waiter is
# past it, FIFO.
set_conf("poolgov.max_active_transactions = 1\npoolgov.admission_idle_timeout = 0\n"
	  . "poolgov.admission_timeout = 20s\npoolgov.admission_fairness_bound = 60s\n"
	  . "poolgov.admission_fairness_factor = 0.01");
is(grant_order('factor 0.01'), '1,2,3,4', 'a bound far below the mean wait: FIFO');
# poolgov.admission_order shows the mean the waits set, the published
# factor and ceiling, and the bound they give (the grant's microsecond
# arithmetic truncates: within 0.01 ms).
sub admission_order
{
	return $node->safe_psql('postgres', q{
		SELECT mean_wait_ms > 0, fairness_factor, fairness_ceiling_ms,
		       abs(fairness_bound_ms
		           - least(fairness_ceiling_ms, fairness_factor * mean_wait_ms)) < 0.01
		  FROM poolgov.admission_order});
}
is(admission_order(), 't|0.01|60000|t',
	'admission_order: the measured mean wait and the bound it gives, factor 0.01');
# 100 x the mean wait: from the first grant that knows a mean on, far above
# every wait here; the newest goes first (whether the first grant, made
# when the mean may still be unknown, went to 1 or to 4).
set_conf("poolgov.admission_fairness_factor = 100");
like(grant_order('factor 100'), qr/^(?:1,4,3,2|4,3,2,1)$/,
	'a bound far above the mean wait: newest first');
is(admission_order(), 't|100|60000|t',
	'admission_order: the bound follows the published factor, 100');
is(admission_counts(), '0|0', 'nothing running or queued after the grant orders');

$node->stop;
done_testing();
