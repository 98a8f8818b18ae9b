# Lock safety follows the lock graph (issue 16, defect 8): a queued
# transaction is admitted past poolgov.max_active_transactions only when a
# transaction holding a slot waits for it, directly or through other lock
# waiters. Limit 1, deadlock_timeout 200ms.
#  (a) 8 queued INSERTs hold RowExclusiveLock on t, an exempt superuser's
#      CREATE INDEX waits for them, the slot holder waits for nobody: no
#      overdraft, never more than 1 running, all finishes after COMMIT.
#  (b) the slot holder waits behind the CREATE INDEX in t's lock queue (soft
#      edge), or for a lock the superuser holds (hard edge): a cycle through
#      the queue, so the queued one is admitted past the limit.
#  (c) the slot holder waits for the queued one's lock itself: overdraft.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use PoolgovTest;

my $node = poolgov_node('lock_graph', conf => q{
poolgov.max_active_transactions = 1
poolgov.admission_timeout = 30s
poolgov.admission_idle_timeout = 120s
deadlock_timeout = 200ms
});
$node->safe_psql('postgres', q{
	CREATE ROLE app LOGIN;
	CREATE TABLE t (x int);
	CREATE TABLE u (x int);
	GRANT ALL ON t, u TO app;
});

# (running incl. overdraft and heavy, queued)
sub admission_counts
{
	return split /\|/, $node->safe_psql('postgres', q{
		SELECT count(*) FILTER (WHERE admission IN ('running', 'heavy', 'overdraft', 'queued_heavy')),
		       count(*) FILTER (WHERE admission IN ('queued', 'queued_heavy'))
		  FROM poolgov.connections});
}

sub overdrafts
{
	return $node->safe_psql('postgres',
		q{SELECT count(*) FROM poolgov.events WHERE kind = 'admission_overdraft'});
}

sub feed
{
	my ($s, $sql) = @_;
	$s->{stdin} .= "$sql\n";
	$s->{run}->pump_nb;
}

# $or_done: an SQL condition that holds once the wait is over (the lock
# graph may end it within deadlock_timeout, quicker than a busy machine
# runs the next poll).
sub wait_lock
{
	my ($pid, $what, $or_done) = @_;
	$or_done //= 'false';
	ok($node->poll_query_until('postgres', qq{
		SELECT coalesce((SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $pid),
		                false) OR $or_done}),
		"$what waits for a lock");
}

sub all_done
{
	my ($what) = @_;
	ok($node->poll_query_until('postgres', q{
		SELECT count(*) = 0 FROM poolgov.connections WHERE admission <> 'none'}),
		"$what: nothing running or queued afterwards");
}

# Holds the slot, idle in its transaction after a real statement.
my $h = session($node, user => 'app');
my $h_pid = $h->query_safe('SELECT pg_backend_pid()');
my $s = session($node);    # the bootstrap superuser: exempt
my $s_pid = $s->query_safe('SELECT pg_backend_pid()');

# --- (a) Defect 8: no cycle, so no overdraft.
$h->query_safe('BEGIN; SELECT 1;');
my @q = map { session($node, user => 'app') } 1 .. 8;
feed($q[$_ - 1], "INSERT INTO t SELECT $_ FROM pg_sleep(0.2);") for 1 .. 8;    # 0.2 s each, so a run shows
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 8 FROM poolgov.connections WHERE admission = 'queued'}),
	'(a) 8 INSERTs queued, each holding RowExclusiveLock on t');
feed($s, 'CREATE INDEX t_a ON t (x);');
wait_lock($s_pid, '(a) the superuser\'s CREATE INDEX');
my ($max_running, $min_queued) = (0, 8);
my $t0 = time;
while (time - $t0 < 2)    # 10 x deadlock_timeout
{
	my ($r, $qd) = admission_counts();
	$max_running = $r if $r > $max_running;
	$min_queued = $qd if $qd < $min_queued;
	usleep(50_000);
}
is($max_running, 1, '(a) never more than 1 running while the DDL waits');
is($min_queued, 8, '(a) all 8 stayed queued');
is(overdrafts(), 0, '(a) no admission_overdraft: the slot holder waits for nobody');
$h->query_safe('COMMIT');
$t0 = time;
while (time - $t0 < 20)
{
	my ($r, $qd) = admission_counts();
	$max_running = $r if $r > $max_running;
	last if $r == 0 && $qd == 0;
	usleep(20_000);
}
is($max_running, 1, '(a) one at a time after the holder committed');
ok($node->poll_query_until('postgres', q{
	SELECT (SELECT count(*) FROM t) = 8 AND to_regclass('t_a') IS NOT NULL}),
	'(a) the 8 INSERTs and the CREATE INDEX all finished');
$s->query_safe('SELECT 1');    # its CREATE INDEX is done
all_done('(a)');
is(overdrafts(), 0, '(a) still no overdraft');
$_->quit for @q;

# --- (b) soft edge: H waits behind S in t's lock queue, S waits for Q.
my $q = session($node, user => 'app');
my $q_pid = $q->query_safe('SELECT pg_backend_pid()');
$h->query_safe('BEGIN; SELECT 1;');
feed($q, 'INSERT INTO t VALUES (100);');
ok($node->poll_query_until('postgres', qq{
	SELECT admission = 'queued' FROM poolgov.connections WHERE pid = $q_pid}), '(b soft) Q queued');
feed($s, 'CREATE INDEX t_b ON t (x);');
wait_lock($s_pid, '(b soft) S');
usleep(600_000);    # 3 x deadlock_timeout: nothing yet, S alone waits for Q
is(overdrafts(), 0, '(b soft) no overdraft while only the exempt S waits for Q');
feed($h, 'INSERT INTO t VALUES (101);');    # RowExclusiveLock: behind S's ShareLock
wait_lock($h_pid, '(b soft) H (behind S)', qq{EXISTS (SELECT FROM poolgov.events
	WHERE kind = 'admission_overdraft' AND pid = $q_pid)});
$t0 = time;
ok($node->poll_query_until('postgres', qq{
	SELECT count(*) = 1 FROM poolgov.events WHERE kind = 'admission_overdraft' AND pid = $q_pid}),
	'(b soft) Q admitted past the limit');
cmp_ok(time - $t0, '<', 0.2 + 2, '(b soft) within deadlock_timeout + 2 s');
ok($node->poll_query_until('postgres', q{
	SELECT (SELECT count(*) FROM t WHERE x IN (100, 101)) = 1 AND to_regclass('t_b') IS NOT NULL}),
	'(b soft) Q inserted, then S built its index');
$h->query_safe('COMMIT');
$s->query_safe('SELECT 1');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t WHERE x IN (100, 101)'), '2',
	'(b soft) H\'s INSERT went through');
all_done('(b soft)');
$q->quit;

# --- (b) hard edge: H waits for a lock S holds, S waits for Q.
$q = session($node, user => 'app');
$q_pid = $q->query_safe('SELECT pg_backend_pid()');
$h->query_safe('BEGIN; SELECT 1;');
feed($q, 'INSERT INTO t VALUES (200);');
ok($node->poll_query_until('postgres', qq{
	SELECT admission = 'queued' FROM poolgov.connections WHERE pid = $q_pid}), '(b hard) Q queued');
feed($s, 'BEGIN; LOCK TABLE u IN ACCESS EXCLUSIVE MODE; CREATE INDEX t_c ON t (x);');
wait_lock($s_pid, '(b hard) S (holding u)');
usleep(600_000);
is(overdrafts(), 1, '(b hard) no new overdraft while only the exempt S waits for Q');
feed($h, 'SELECT count(*) FROM u;');
wait_lock($h_pid, '(b hard) H (on u)');
$t0 = time;
ok($node->poll_query_until('postgres', qq{
	SELECT count(*) = 1 FROM poolgov.events WHERE kind = 'admission_overdraft' AND pid = $q_pid}),
	'(b hard) Q admitted past the limit');
cmp_ok(time - $t0, '<', 0.2 + 2, '(b hard) within deadlock_timeout + 2 s');
ok($node->poll_query_until('postgres', qq{
	SELECT (SELECT count(*) FROM t WHERE x = 200) = 1
	   AND (SELECT state = 'idle in transaction' FROM pg_stat_activity WHERE pid = $s_pid)}),
	'(b hard) Q inserted, then S built its index');
$s->query_safe('COMMIT');
is($node->safe_psql('postgres', q{SELECT to_regclass('t_c') IS NOT NULL}), 't',
	'(b hard) S\'s index committed');
ok($node->poll_query_until('postgres', qq{
	SELECT wait_event_type IS DISTINCT FROM 'Lock' FROM pg_stat_activity WHERE pid = $h_pid}),
	'(b hard) H got u once S committed');
$h->query_safe('COMMIT');
all_done('(b hard)');
$q->quit;

# --- (c) direct: H waits for Q's lock itself.
$q = session($node, user => 'app');
$q_pid = $q->query_safe('SELECT pg_backend_pid()');
$h->query_safe('BEGIN; SELECT 1;');
feed($q, 'SELECT count(*) FROM t;');
ok($node->poll_query_until('postgres', qq{
	SELECT admission = 'queued' FROM poolgov.connections WHERE pid = $q_pid}), '(c) Q queued');
$t0 = time;
$h->query_safe('LOCK TABLE t IN ACCESS EXCLUSIVE MODE; COMMIT;');
cmp_ok(time - $t0, '<', 0.2 + 2, '(c) H got its lock within deadlock_timeout + 2 s');
is($node->safe_psql('postgres', qq{
	SELECT count(*) FROM poolgov.events WHERE kind = 'admission_overdraft' AND pid = $q_pid}),
	'1', '(c) Q admitted past the limit');
all_done('(c)');
is(overdrafts(), 3, 'three overdrafts in all: (b soft), (b hard), (c)');
$_->quit for $q, $s;

# --- (d) The heavy lane: a transaction queued for a heavy slot (it runs,
# holding a normal slot) waits only for heavy slot holders.
$node->append_conf('postgresql.conf', q{
poolgov.max_active_transactions = 4
poolgov.max_heavy_transactions = 1
poolgov.heavy_cost = 10000
});
$node->reload;
usleep(300_000);
my $heavy = 'SELECT count(*) FROM generate_series(1, 1000000) g WHERE g < 0;';    # cost 13,333
my $heavy_t = 'SELECT count(*) FROM generate_series(1, 1000000) g WHERE g < (SELECT count(*) FROM t);';
my $hh = session($node, user => 'app');
my $hw = session($node, user => 'app');
my $hw_pid = $hw->query_safe('SELECT pg_backend_pid()');
$hh->query_safe("BEGIN; $heavy");
$hw->query_safe('BEGIN; SELECT 1;');
feed($hw, $heavy_t);
ok($node->poll_query_until('postgres', qq{
	SELECT admission = 'queued_heavy' FROM poolgov.connections WHERE pid = $hw_pid}),
	'(d) HW waits for the heavy lane, holding AccessShareLock on t');
# A normal slot holder waits for HW: no cycle, HH holds the heavy slot.
feed($h, 'BEGIN; SELECT 1; LOCK TABLE t IN ACCESS EXCLUSIVE MODE;');
wait_lock($h_pid, '(d) a normal slot holder\'s LOCK TABLE');
usleep(1_000_000);
is($node->safe_psql('postgres', qq{
	SELECT admission || '/' || (SELECT count(*) FROM poolgov.events
	                             WHERE kind = 'admission_overdraft' AND pid = $hw_pid)
	  FROM poolgov.connections WHERE pid = $hw_pid}),
	'queued_heavy/0', '(d) HW not let through: no heavy slot holder waits for it');
$hh->query_safe('COMMIT');
ok($node->poll_query_until('postgres', qq{
	SELECT state = 'idle in transaction' FROM pg_stat_activity WHERE pid = $hw_pid}),
	'(d) HW ran once HH committed');
$hw->query_safe('COMMIT');
$h->query_safe('COMMIT');
# The heavy slot holder itself waits for HW: a cycle, HW is let through.
$hh->query_safe("BEGIN; $heavy");
$hw->query_safe('BEGIN; SELECT 1;');
feed($hw, $heavy_t);
ok($node->poll_query_until('postgres', qq{
	SELECT admission = 'queued_heavy' FROM poolgov.connections WHERE pid = $hw_pid}),
	'(d) HW waits for the heavy lane again');
my $hh_pid = $node->safe_psql('postgres', q{
	SELECT pid FROM poolgov.connections WHERE admission = 'heavy'});
feed($hh, 'LOCK TABLE t IN ACCESS EXCLUSIVE MODE;');
wait_lock($hh_pid, '(d) the heavy slot holder\'s LOCK TABLE');
$t0 = time;
ok($node->poll_query_until('postgres', qq{
	SELECT count(*) = 1 FROM poolgov.events WHERE kind = 'admission_overdraft' AND pid = $hw_pid}),
	'(d) HW admitted past the heavy limit');
cmp_ok(time - $t0, '<', 0.2 + 2, '(d) within deadlock_timeout + 2 s');
ok($node->poll_query_until('postgres', qq{
	SELECT state = 'idle in transaction' FROM pg_stat_activity WHERE pid = $hw_pid}),
	'(d) HW ran its heavy statement');
$hw->query_safe('COMMIT');
$hh->query_safe('COMMIT');
all_done('(d)');

$_->quit for $hh, $hw, $h;
$node->stop;
done_testing();
